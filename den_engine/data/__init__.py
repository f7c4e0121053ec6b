"""The offline benchmarks: task sequences built from data that ships inside packages, and generated 2-D tasks."""
