"""lascoproc.cluster."""
