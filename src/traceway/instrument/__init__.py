"""traceway.instrument."""
