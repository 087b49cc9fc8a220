"""Non-overlapping window partitioning of channel-last maps (Swin, ViTDet)."""
from typing import Tuple

import torch

__all__ = ['partition_windows', 'merge_windows']


def partition_windows(x: torch.Tensor, window: Tuple[int, int]) -> torch.Tensor:
    """(B, H, W, C) -> (B, num_windows, wh*ww, C); H and W are multiples of the window."""
    b, h, w, c = x.shape
    x = x.view(b, h // window[0], window[0], w // window[1], window[1], c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, -1, window[0] * window[1], c)


def merge_windows(windows: torch.Tensor, window: Tuple[int, int], hw: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`partition_windows`."""
    b, _, _, c = windows.shape
    h, w = hw
    x = windows.view(b, h // window[0], w // window[1], window[0], window[1], c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
