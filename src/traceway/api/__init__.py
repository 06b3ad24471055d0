"""traceway.api."""
