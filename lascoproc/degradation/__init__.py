"""lascoproc.degradation."""
