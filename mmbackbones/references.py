"""Reference implementations of the zoo's variants, built from a row's ids, returning our levels.

A zoo row names its references as data (``Variant.refs``): a model name for timm and
torchvision, the backbone config dict for mmdet, mmseg, mmpretrain and mmyolo::

    refs={'timm': 'resnet50', 'torchvision': 'resnet50', 'mmdet': dict(type='ResNet', depth=50)}

:func:`build_reference` builds one of them with its own random initialisation and returns a
:class:`Reference` whose ``levels(x)`` are the reference's features at every level of ours, in
our order and layout. The weight-parity battery compares them with ours after converting the
reference's weights (:func:`build_ours_for`), and ``tools/benchmark.py`` times the same call.

How a timm or torchvision model returns its levels is family knowledge: the family module
registers it with ``@reference_levels(ResNet, 'timm')``, found along the class hierarchy like
the converters. OpenMMLab backbones return their levels themselves. timm, torchvision and the
OpenMMLab libraries are imported only when a reference from them is built.
"""
import copy
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union

import torch
import torch.nn as nn

from .registry import MODELS
from .zoo import OPENMMLAB_SOURCES, REFERENCE_SOURCES, Variant, get_variant

__all__ = ['REFERENCE_SOURCES', 'OPENMMLAB_SOURCES', 'Reference', 'ReferenceUnavailable',
           'reference_levels', 'run_timm_stage', 'levels_fn_for', 'build_reference', 'build_ours_for',
           'build_openmmlab', 'openmmlab_cfg', 'reference_backbone_parameters',
           'count_backbone_parameters', 'timm_create_kwargs']


LevelsFn = Callable[[nn.Module, torch.Tensor], List[torch.Tensor]]
# (family class, source) -> levels(reference model, x)
_LEVELS: Dict[Tuple[type, str], LevelsFn] = {}
# (family class, source) -> the parameters of a reference model that its backbone is made of
_BACKBONE_PARAMETERS: Dict[Tuple[type, str], Callable[[nn.Module], Iterable[nn.Parameter]]] = {}
# family class -> fn(input size or None) -> keyword arguments of timm.create_model
_TIMM_KWARGS: Dict[type, Callable[[Optional[tuple]], dict]] = {}


class ReferenceUnavailable(RuntimeError):
    """The reference cannot be built here: the row lists none, its library does not import,
    or the family registers no way to read its levels."""


@dataclass
class Reference:
    source: str
    name: str  # what was built: the model name, or the OpenMMLab class
    model: nn.Module
    levels_fn: LevelsFn

    def levels(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The reference's features at every level of ours (NCHW, our order)."""
        return list(self.levels_fn(self.model, x))


def reference_levels(family: type, source: str):
    """Decorator registering ``fn(reference_model, x) -> levels`` for ``family`` (and its
    subclasses) and the timm or torchvision models its rows name."""
    if source not in REFERENCE_SOURCES:
        raise ValueError(f'source={source!r}; valid values are {REFERENCE_SOURCES}')

    def wrap(fn):
        if (family, source) in _LEVELS:
            raise KeyError(f'{source} levels of {family.__name__} are registered twice')
        _LEVELS[(family, source)] = fn
        return fn

    return wrap


def run_timm_stage(model: nn.Module, stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``stage(x)`` for a levels function that walks a timm model's sequential stages itself,
    checkpointed block by block where ``model.set_grad_checkpointing()`` is on, as timm's own
    ``forward_intermediates`` runs them (its flag lives on the model, not on the stages)."""
    if getattr(model, 'grad_checkpointing', False) and not torch.jit.is_scripting():
        from timm.models import checkpoint_seq
        return checkpoint_seq(stage, x)
    return stage(x)


def reference_backbone_parameters(family: type, source: str):
    """Decorator registering ``fn(reference_model) -> parameters`` for ``family`` (and its
    subclasses): the parameters of a ``source`` model that make up the backbone, where the
    model has more than its backbone and a classifier (``num_classes=0`` removes that), e.g.
    timm HRNet's classification-only ``incre_modules``."""
    if source not in REFERENCE_SOURCES:
        raise ValueError(f'source={source!r}; valid values are {REFERENCE_SOURCES}')

    def wrap(fn):
        if (family, source) in _BACKBONE_PARAMETERS:
            raise KeyError(f'{source} backbone parameters of {family.__name__} are registered '
                           'twice')
        _BACKBONE_PARAMETERS[(family, source)] = fn
        return fn

    return wrap


def timm_create_kwargs(family: type):
    """Decorator registering ``fn(size) -> dict`` for ``family`` (and its subclasses): the
    keyword arguments with which its timm models are built for input ``size`` (H, W), where
    the default (``img_size=size`` for a model built for one input size) is not what the
    family is compared with, e.g. ViT's ``dynamic_img_size=True``, so that timm resizes its
    own position table for every input."""

    def wrap(fn):
        if family in _TIMM_KWARGS:
            raise KeyError(f'timm keyword arguments of {family.__name__} are registered twice')
        _TIMM_KWARGS[family] = fn
        return fn

    return wrap


def count_backbone_parameters(family: type, source: str, model: nn.Module) -> int:
    """Parameters of the backbone part of a ``source`` reference model of ``family``: all of
    them unless the family registers which (:func:`reference_backbone_parameters`)."""
    for klass in family.__mro__:
        if (klass, source) in _BACKBONE_PARAMETERS:
            return sum(p.numel() for p in _BACKBONE_PARAMETERS[(klass, source)](model))
    return sum(p.numel() for p in model.parameters())


def _called(model: nn.Module, x: torch.Tensor) -> List[torch.Tensor]:
    return list(model(x))  # an OpenMMLab backbone returns its out_indices levels


def levels_fn_for(family: type, source: str) -> Optional[LevelsFn]:
    """How to read the levels of a ``source`` model of ``family`` (nearest class in its MRO);
    None where the family registers none."""
    for klass in family.__mro__:
        if (klass, source) in _LEVELS:
            return _LEVELS[(klass, source)]
    return _called if source in OPENMMLAB_SOURCES else None


def _variant(variant: Union[str, Variant]) -> Variant:
    return get_variant(variant) if isinstance(variant, str) else variant


def _num_levels(variant: Variant) -> int:
    with torch.device('meta'):  # shapes only
        return MODELS.build(variant.build_cfg()).num_levels


def _openmmlab_registry(scope: str):
    """The MODELS registry of ``scope`` with all its modules (and ours) registered."""
    try:
        if scope == 'mmdet':
            from mmdet.registry import MODELS as registry
            from mmdet.utils import register_all_modules
        elif scope == 'mmseg':
            from mmseg.registry import MODELS as registry
            from mmseg.utils import register_all_modules
        elif scope == 'mmyolo':  # GPL-3.0, the optional `yolo` extra: a test reference only
            from mmyolo.registry import MODELS as registry
            from mmyolo.utils import register_all_modules
        else:
            from mmpretrain.registry import MODELS as registry
            from mmpretrain.utils import register_all_modules
    except Exception as err:  # ImportError, or mmcv ops that fail to load
        raise ReferenceUnavailable(f'{scope} does not import here ({type(err).__name__}: '
                                   f'{err})') from None
    register_all_modules(init_default_scope=False)
    return registry


def build_openmmlab(cfg: dict, scope: str) -> nn.Module:
    """Build ``cfg`` with ``scope``'s registry, under that default scope (as its runner does);
    ``type='mmbackbones.X'`` builds ours from the same dict."""
    from mmengine.registry import DefaultScope
    registry = _openmmlab_registry(scope)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(copy.deepcopy(cfg))


def openmmlab_cfg(variant: Union[str, Variant], source: str, out_indices=None) -> dict:
    """The row's OpenMMLab backbone dict, returning every level of ours unless it says.

    ``out_indices`` goes into the dict only where the OpenMMLab class takes one; a class
    without it (mmdet's HRNet) returns all its levels by itself.
    """
    variant = _variant(variant)
    cfg = dict(copy.deepcopy(variant.refs[source]))
    if not _takes_out_indices(cfg['type'], source):
        return cfg
    if out_indices is not None:
        cfg['out_indices'] = tuple(out_indices)
    cfg.setdefault('out_indices', tuple(range(_num_levels(variant))))
    return cfg


def _takes_out_indices(cfg_type: str, source: str) -> bool:
    import inspect
    cls = _openmmlab_registry(source).get(cfg_type)
    if cls is None:
        return True  # the build reports the unknown type
    return 'out_indices' in inspect.signature(cls).parameters


def build_reference(variant: Union[str, Variant], source: str, size=None) -> Reference:
    """Reference ``source`` of ``variant``, in eval mode, with its own random initialisation.

    ``size`` (H, W) is the input size, for timm models that are built for one (Swin).
    """
    variant = _variant(variant)
    if source not in variant.refs:
        raise ReferenceUnavailable(f'{variant.name} lists no {source} reference')
    family = MODELS.get(f'mmbackbones.{variant.family}')
    levels = levels_fn_for(family, source)
    if levels is None:
        raise ReferenceUnavailable(
            f'{family.__name__} registers no way to read the levels of a {source} model '
            f'(@reference_levels({family.__name__}, {source!r}) in its family module)')
    spec = variant.refs[source]
    if source == 'timm':
        kwargs = next((_TIMM_KWARGS[k] for k in family.__mro__ if k in _TIMM_KWARGS), None)
        model = _build_timm(spec, size, None if kwargs is None else kwargs(size))
    elif source == 'torchvision':
        import torchvision
        model = torchvision.models.get_model(spec, weights=None)
    else:
        model = build_openmmlab(openmmlab_cfg(variant, source), source)
        _init_quietly(model)
        spec = spec['type']
    model.eval()  # not chained: some OpenMMLab train() overrides return None
    return Reference(source, spec, model, levels)


def _init_quietly(model: nn.Module) -> None:
    """``init_weights()`` (OpenMMLab models initialise there, not in ``__init__``) without
    mmengine's per-parameter report, a few hundred log lines per model."""
    import logging
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)


def _build_timm(name: str, size=None, kwargs: Optional[dict] = None) -> nn.Module:
    import timm
    if kwargs is not None:  # the family says how (timm_create_kwargs)
        return timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    if size is not None:
        try:  # models built for one input size (ViT, Swin) are built for this one
            return timm.create_model(name, pretrained=False, num_classes=0, img_size=size)
        except TypeError:  # convnets take no img_size
            pass
    return timm.create_model(name, pretrained=False, num_classes=0)


def build_ours_for(variant: Union[str, Variant], source: str) -> nn.Module:
    """Our backbone that reference ``source`` of ``variant`` converts into, returning every
    level: the variant itself, or for an OpenMMLab reference its config dict built with our
    class (the drop-in contract: only ``type`` changes)."""
    variant = _variant(variant)
    if source in OPENMMLAB_SOURCES and source in variant.refs:
        cfg = openmmlab_cfg(variant, source)
        return build_openmmlab(dict(cfg, type=f"mmbackbones.{cfg['type']}"), source)
    num_levels = _num_levels(variant)
    return MODELS.build(variant.build_cfg(out_indices=tuple(range(num_levels))))
