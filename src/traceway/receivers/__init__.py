"""traceway.receivers."""
