"""traceway.query."""
