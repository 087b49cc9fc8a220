"""Res2Net checkpoints: timm's keys are ours; mmdet/mmseg need the ResNet stem/norm mapping.

mmdet/mmseg's Res2Net skips the average pool of the first block's last split at stride 1;
build ours with ``split_pool='strided'`` to reproduce checkpoints fine-tuned there exactly.
"""
from .resnet import register_resnet_like

register_resnet_like('Res2Net')
