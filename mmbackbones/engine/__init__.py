"""Training helpers. Not imported by ``import mmbackbones`` (it stays cheap)."""
