"""lascoproc.pipeline."""
