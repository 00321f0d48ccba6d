"""Shipped AIA degradation models (pinned by SHA-256 in lascoproc.degradation.model)."""
