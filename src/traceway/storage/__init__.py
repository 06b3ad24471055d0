"""traceway.storage."""
