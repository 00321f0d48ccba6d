"""Reference data shipped with lascoproc (real headers and tables; see README "Reference data")."""
