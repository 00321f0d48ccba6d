"""lascoproc.inpaint."""
