"""lascoproc.calibrate."""
