"""Per-user state and loaders: background training sessions, the Learn session, sweeps, URL state, cached reads."""
