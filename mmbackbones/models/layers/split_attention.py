"""Split attention (ResNeSt, Zhang et al. 2022, arXiv 2004.08955)."""
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from .conv_plugin import build_conv
from .norm_act import build_act, build_norm


def attention_channels(in_channels: int, radix: int, reduction_factor: int) -> int:
    """Width of the attention MLP: ``in * radix / reduction``, at least 32, a multiple of 8.

    Equals timm's ``make_divisible(.., min_value=32, divisor=8)`` and mmdet's
    ``max(in * radix // reduction, 32)`` for every published ResNeSt.
    """
    value = in_channels * radix / reduction_factor
    rounded = max(32, int(value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


class SplitAttention(nn.Module):
    """Grouped conv producing ``radix`` splits, fused by a softmax over the splits.

    The conv has ``groups * radix`` groups; the splits are summed, pooled globally and fed to a
    two-layer 1x1-conv MLP (``fc1`` - norm - act - ``fc2``) whose ``radix`` outputs per channel
    are softmax-normalised (sigmoid for ``radix=1``) and weight the splits. Parameter names
    (``conv``, ``bn0``, ``fc1``, ``bn1``, ``fc2``) are those of timm, mmdet and the official code.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 dilation: int = 1, groups: int = 1, radix: int = 2, reduction_factor: int = 4,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU', inplace=True),
                 conv_cfg=None):
        super().__init__()
        if radix < 1:
            raise ValueError(f'radix={radix}; valid values are integers >= 1')
        self.radix = radix
        self.groups = groups
        self.out_channels = out_channels
        attn_channels = attention_channels(in_channels, radix, reduction_factor)
        padding = dilation * (kernel_size - 1) // 2
        self.conv = build_conv(conv_cfg, in_channels, out_channels * radix, kernel_size, stride,
                               padding, dilation, groups=groups * radix, bias=False)
        self.bn0 = build_norm(norm_cfg, out_channels * radix)
        self.act0 = build_act(act_cfg)
        self.fc1 = nn.Conv2d(out_channels, attn_channels, 1, groups=groups)
        self.bn1 = build_norm(norm_cfg, attn_channels)
        self.act1 = build_act(act_cfg)
        self.fc2 = nn.Conv2d(attn_channels, out_channels * radix, 1, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act0(self.bn0(self.conv(x)))
        batch, _, height, width = x.shape
        splits = x.reshape(batch, self.radix, self.out_channels, height, width)
        pooled = splits.sum(dim=1).mean((2, 3), keepdim=True)
        attn = self.fc2(self.act1(self._norm_pooled(self.fc1(pooled))))
        attn = self._split_weights(attn).reshape(batch, self.radix, self.out_channels, 1, 1)
        return (splits * attn).sum(dim=1)

    def _split_weights(self, attn: torch.Tensor) -> torch.Tensor:
        batch = attn.shape[0]
        if self.radix == 1:
            return torch.sigmoid(attn)
        # fc2 is grouped: its channels are ordered (group, split, channel); softmax over splits,
        # then reorder to (split, group, channel) to line up with the conv's splits.
        attn = attn.reshape(batch, self.groups, self.radix, -1).transpose(1, 2)
        return F.softmax(attn, dim=1).reshape(batch, -1)

    def _norm_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """Norm of the pooled (B, C, 1, 1) map, also defined for a training batch of one.

        With one image, BatchNorm in training mode sees one value per channel: its batch variance
        is zero and PyTorch raises (timm and mmdet fail here). Batch statistics of a single
        value carry no information, so we normalise with the running statistics instead, which is
        exactly what eval mode computes (eval-mode outputs and checkpoints are unchanged), keep
        gradients flowing to the affine parameters and leave the running statistics untouched.
        Dropping the norm (the official ResNeSt's fc-only variant) would change the function the
        pretrained weights compute.
        """
        norm = self.bn1
        if (pooled.shape[0] == 1 and norm.training and isinstance(norm, _BatchNorm)
                and norm.running_mean is not None and not _syncs_across_processes(norm)):
            return F.batch_norm(pooled, norm.running_mean, norm.running_var, norm.weight,
                                norm.bias, False, 0.0, norm.eps)
        return norm(pooled)


def _syncs_across_processes(norm: nn.Module) -> bool:
    """True where SyncBatchNorm pools the batch over several processes (so it has > 1 value)."""
    return (isinstance(norm, nn.SyncBatchNorm) and dist.is_available() and dist.is_initialized()
            and dist.get_world_size(norm.process_group) > 1)
