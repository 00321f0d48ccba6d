"""The lascoproc command line (thin: parse, load config, call the library)."""
