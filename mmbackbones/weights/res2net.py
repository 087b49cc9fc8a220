"""Res2Net checkpoints: timm's keys are ours; mmdet/mmseg need the ResNet stem/norm mapping.

mmdet/mmseg's Res2Net skips the average pool of the first block's last split at stride 1, as our
default ``split_pool='strided'``; timm's weights need ``split_pool='always'`` (the zoo rows).
"""
from .resnet import register_resnet_like

register_resnet_like('Res2Net')
