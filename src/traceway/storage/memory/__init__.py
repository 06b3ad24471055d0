"""traceway.storage.memory."""
