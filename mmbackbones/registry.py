"""Registries of mmbackbones, children of MMEngine's root registries.

Configs name our modules with the scope prefix (``type='mmbackbones.SwinTransformer'``,
``constructor='mmbackbones.LayerDecayOptimizerConstructor'``) so that they never collide with
mmdet's or mmseg's classes of the same name.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmbackbones',
                  locations=['mmbackbones.models'])
# Imported on first use (``import mmbackbones`` stays cheap): a config's
# ``optim_wrapper.constructor='mmbackbones.<Name>'`` finds it through this location.
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmbackbones', locations=['mmbackbones.engine.layer_decay'])
