"""Runner components in mmengine's sense (hooks; later optimiser constructors and loops).
Not imported by ``import mmbackbones`` (it stays cheap)."""
