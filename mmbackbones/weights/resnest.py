"""ResNeSt checkpoints: timm's keys are ours (``conv2.conv/bn0/fc1/bn1/fc2`` for split
attention, as mmdet/mmseg); mmdet/mmseg need the ResNet deep-stem mapping."""
from .resnet import register_resnet_like

register_resnet_like('ResNeSt')
