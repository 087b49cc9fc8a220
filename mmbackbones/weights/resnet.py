"""ResNet / ResNeXt checkpoints -> mmbackbones keys.

Our keys are timm's (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``);
torchvision's ResNet and ResNeXt share them. mmdet and mmseg differ in two ways: the deep stem is
``stem.0..7`` (three convs and three norms, the last norm being our ``bn1``) instead of
``conv1.0..6`` + ``bn1``, and norms are named after their type (``gn1`` for GroupNorm).
The same mapping serves Res2Net and ResNeSt (:mod:`.res2net`, :mod:`.resnest`).
Dilated ResNet-18/34: mmdet/mmseg (and ours by default) dilate only the first 3x3 conv of a basic
block, timm both (``dilate_basic_conv2=True``). Deformable convs (``conv2.conv_offset``) and
plugins (``context_block``, ``gen_attention_block``, ...) keep mmdet's keys.
"""
import re

from .convert import register_converter

# mmdet deep stem index -> ours: Sequential(conv, norm, act, conv, norm, act, conv, norm, act)
_MMDET_STEM = {'0': 'conv1.0', '1': 'conv1.1', '3': 'conv1.3', '4': 'conv1.4', '6': 'conv1.6',
               '7': 'bn1'}
# build_norm_layer names a norm by its type: bn, gn, ln, in, or norm_layer; ours are all bn.
_MMCV_NORM_NAME = re.compile(r'(^|\.)(?:gn|ln|in|norm_layer)(\d+)\.')


def drop_head(state_dict, model=None):
    """Without the classifier, and without the stages ``model`` does not build (those after
    the last level its ``out_indices`` return, or beyond ``num_stages``)."""
    built = len(getattr(model, 'stage_blocks', (0, ) * 4)) if model is not None else 4

    def keep(key):
        match = re.match(r'layer(\d)\.', key)
        return not key.startswith('fc.') and (match is None or int(match.group(1)) <= built)

    return {k: v for k, v in state_dict.items() if keep(k)}


def is_timm_layout(state_dict) -> bool:
    return 'layer1.0.conv1.weight' in state_dict and (
        'conv1.weight' in state_dict or 'conv1.0.weight' in state_dict)


def is_torchvision_layout(state_dict) -> bool:
    return 'layer1.0.conv1.weight' in state_dict and 'conv1.weight' in state_dict


def is_mmdet_layout(state_dict) -> bool:
    return 'layer1.0.conv1.weight' in state_dict and (
        'stem.0.weight' in state_dict or 'conv1.weight' in state_dict)


def convert_timm(state_dict, model=None):
    return drop_head(state_dict, model)


def convert_mmdet(state_dict, model=None):
    out = {}
    for key, value in drop_head(state_dict, model).items():
        match = re.match(r'stem\.(\d+)\.(.*)', key)
        if match:
            if match.group(1) not in _MMDET_STEM:
                raise KeyError(f'unexpected mmdet stem key {key!r}')
            key = f'{_MMDET_STEM[match.group(1)]}.{match.group(2)}'
        out[_MMCV_NORM_NAME.sub(r'\1bn\2.', key)] = value
    return out


def register_resnet_like(family: str, torchvision: bool = False) -> None:
    """Register the timm / (torchvision) / mmdet / mmseg converters of a ResNet-like family."""
    register_converter(family, 'timm', detect=is_timm_layout)(convert_timm)
    if torchvision:
        register_converter(family, 'torchvision', detect=is_torchvision_layout)(convert_timm)
    for source in ('mmdet', 'mmseg'):
        register_converter(family, source, detect=is_mmdet_layout)(convert_mmdet)


register_resnet_like('ResNet', torchvision=True)
register_resnet_like('ResNeXt', torchvision=True)
register_resnet_like('ResNetV1c')
register_resnet_like('ResNetV1d')
