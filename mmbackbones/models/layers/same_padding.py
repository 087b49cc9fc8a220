"""TensorFlow's ``'SAME'`` padding, for weights trained in TensorFlow (timm's ``tf_`` models,
mmdet's EfficientNet).

TensorFlow pads an input of size ``n`` so that the output has ``ceil(n / stride)`` positions,
and puts the odd pixel, if any, at the end (bottom / right). PyTorch's usual symmetric
``padding=(k - 1) // 2`` differs whenever the stride does not divide the input, which shifts
every strided layer's sampling grid by one pixel: TensorFlow-trained weights then compute a
different function. The amount depends on the input size, so it is computed per forward.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .args import check_choice
from .conv_plugin import build_conv

__all__ = ['PADDING_MODES', 'Conv2dSame', 'create_conv2d', 'pad_same', 'same_pad_amounts']

# 'symmetric': PyTorch's dilation * (k - 1) // 2 on each side; 'same': TensorFlow's 'SAME'.
PADDING_MODES = ('symmetric', 'same')
# mmcv's conv layer that computes TensorFlow's 'SAME' padding (mmdet's EfficientNet configs).
ADAPTIVE_PADDING_CONV = 'Conv2dAdaptivePadding'


def same_pad_amounts(size: int, kernel_size: int, stride: int = 1,
                     dilation: int = 1) -> Tuple[int, int]:
    """(before, after) padding of one spatial side under TensorFlow's ``'SAME'`` rule."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel_size: Tuple[int, int], stride: Tuple[int, int],
             dilation: Tuple[int, int] = (1, 1), value: float = 0.0) -> torch.Tensor:
    """``x`` (N, C, H, W) padded as TensorFlow's ``'SAME'`` would before the layer."""
    top, bottom = same_pad_amounts(x.shape[-2], kernel_size[0], stride[0], dilation[0])
    left, right = same_pad_amounts(x.shape[-1], kernel_size[1], stride[1], dilation[1])
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


def _is_static(kernel_size: int, stride: int, dilation: int) -> bool:
    """Whether ``'SAME'`` equals a fixed symmetric padding for every input size: stride 1 and
    an odd effective kernel (then the total, ``dilation * (k - 1)``, is even and constant)."""
    return stride == 1 and (dilation * (kernel_size - 1)) % 2 == 0


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``'SAME'`` padding computed per input size.

    Its parameters (``weight``, ``bias``) are those of ``nn.Conv2d``; ``padding`` is ignored.
    """

    def __init__(self, *args, **kwargs):
        kwargs['padding'] = 0
        super().__init__(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        return self._conv_forward(x, self.weight, self.bias)


def create_conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                  dilation: int = 1, groups: int = 1, bias: bool = False,
                  padding: str = 'symmetric', conv_cfg: Optional[dict] = None) -> nn.Module:
    """A conv that keeps the spatial size at stride 1, with the padding of ``padding``.

    ``padding='same'`` (or mmcv's ``conv_cfg=dict(type='Conv2dAdaptivePadding')``, which
    computes the same) gives TensorFlow's padding; where that is a fixed symmetric padding
    (stride 1, odd kernel) a plain ``nn.Conv2d`` is returned, which computes the same faster.
    Other ``conv_cfg`` (mmcv conv layers) take the symmetric padding.
    """
    check_choice('padding', padding, PADDING_MODES)
    if isinstance(conv_cfg, dict) and conv_cfg.get('type') == ADAPTIVE_PADDING_CONV:
        extra = set(conv_cfg) - {'type'}
        if extra:
            raise ValueError(f'conv_cfg={conv_cfg!r}: {ADAPTIVE_PADDING_CONV} takes no options '
                             f'here; got {sorted(extra)}')
        padding, conv_cfg = 'same', None
    if padding == 'same' and conv_cfg is not None:
        raise ValueError(f"conv_cfg={conv_cfg!r} with padding='same': TensorFlow padding is "
                         "built in; valid values: conv_cfg=None or "
                         f"dict(type='{ADAPTIVE_PADDING_CONV}')")
    if padding == 'same' and not _is_static(kernel_size, stride, dilation):
        return Conv2dSame(in_channels, out_channels, kernel_size, stride, dilation=dilation,
                          groups=groups, bias=bias)
    return build_conv(conv_cfg, in_channels, out_channels, kernel_size, stride,
                      padding=dilation * (kernel_size - 1) // 2, dilation=dilation,
                      groups=groups, bias=bias)
