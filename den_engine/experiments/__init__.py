"""Experiment tooling on top of the Trainer: method comparisons, sweeps (local or Ray), decision diffs, benches."""
