"""Shipped model weights (pinned by SHA-256 in lascoproc.inpaint.model_registry)."""
