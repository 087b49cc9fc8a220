"""The transformer families' default initialisation (ViT, DeiT, Swin, PVT, ViTDet: timm's and
OpenMMLab's): every ``nn.Linear`` weight truncated normal with std 0.02 and bias zero, every
``nn.LayerNorm`` weight one and bias zero. ConvNeXt (mmpretrain's) adds its convs through
``other``."""
from typing import Callable, Optional

import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_

__all__ = ['init_transformer_weights']


def init_transformer_weights(model: nn.Module,
                             other: Optional[Callable[[nn.Module], None]] = None) -> None:
    """Initialise ``model``'s linears and layer norms as above, and call ``other(module)`` for
    every other module, in the same single pass (so random draws keep their order)."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif other is not None:
            other(module)
