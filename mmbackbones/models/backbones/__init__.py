from .base import BaseBackbone
from .res2net import Res2Net
from .resnest import ResNeSt
from .resnet import ResNet, ResNetV1c, ResNetV1d, ResNeXt
from .swin import SwinTransformer

__all__ = ['BaseBackbone', 'SwinTransformer']
__all__ += ['ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNeXt', 'Res2Net', 'ResNeSt']
