"""The algorithm: configs, the expandable network, training stages, DEN (Algorithms 1-4) and the Trainer."""
