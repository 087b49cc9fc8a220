"""Registries of mmbackbones, children of MMEngine's root registries.

Configs name our modules with the scope prefix (``type='mmbackbones.SwinTransformer'``) so
that they never collide with mmdet's or mmseg's classes of the same name.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmbackbones',
                  locations=['mmbackbones.models'])
