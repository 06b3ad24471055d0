"""traceway.storage.duckdb."""
