"""The stage between receivers and storage: a bounded queue with group commit."""
