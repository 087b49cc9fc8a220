"""Norm and activation layers from mmcv-style configs (``dict(type='BN')``, ``dict(type='ReLU')``).

mmcv's builders are used so that every norm and activation registered with OpenMMLab works
(``SyncBN``, ``GN``, ``MMSyncBN``, ``GELU``, ...). mmcv is imported lazily: ``import mmbackbones``
must stay cheap, and plain BN / ReLU models still build where mmcv is not installed.
"""
import functools
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmbackbones.registry import MODELS


def build_norm(norm_cfg: Optional[dict], num_features: int) -> nn.Module:
    """The norm layer of ``norm_cfg`` over ``num_features`` channels (``None``: identity)."""
    if norm_cfg is None:
        return nn.Identity()
    try:
        from mmcv.cnn import build_norm_layer
    except ImportError:
        return _torch_norm(norm_cfg, num_features)
    return build_norm_layer(norm_cfg, num_features)[1]


def build_act(act_cfg: Optional[dict]) -> nn.Module:
    """The activation of ``act_cfg`` (``None``: identity)."""
    if act_cfg is None:
        return nn.Identity()
    try:
        from mmcv.cnn import build_activation_layer
    except ImportError:
        return _torch_act(act_cfg)
    return build_activation_layer(act_cfg)


def _torch_norm(norm_cfg: dict, num_features: int) -> nn.Module:
    cfg = dict(norm_cfg)
    norm_type = cfg.pop('type')
    requires_grad = cfg.pop('requires_grad', True)
    if norm_type != 'BN':
        raise ImportError(f'norm_cfg type {norm_type!r} needs mmcv (pip install mmcv); '
                          "without it only type='BN' is available")
    layer = nn.BatchNorm2d(num_features, **cfg)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return layer


# mmcv's names of the activations PyTorch has (mmcv's Swish and HSwish compute SiLU/Hardswish).
_TORCH_ACTS = {'ReLU': nn.ReLU, 'ReLU6': nn.ReLU6, 'LeakyReLU': nn.LeakyReLU, 'SiLU': nn.SiLU,
               'Swish': nn.SiLU, 'HSwish': nn.Hardswish, 'Sigmoid': nn.Sigmoid, 'GELU': nn.GELU}


def _torch_act(act_cfg: dict) -> nn.Module:
    cfg = dict(act_cfg)
    act_type = cfg.pop('type')
    if act_type not in _TORCH_ACTS:
        raise ImportError(f'act_cfg type {act_type!r} needs mmcv (pip install mmcv); without '
                          f'it the available types are {sorted(_TORCH_ACTS)}')
    if act_type in ('Swish', 'Sigmoid'):  # no inplace variant
        cfg.pop('inplace', None)
    return _TORCH_ACTS[act_type](**cfg)


@MODELS.register_module(name='LN2d')
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor; configs name it
    ``dict(type='mmbackbones.LN2d')`` (the ``LN2d`` of mmpretrain's ConvNeXt and of ViTDet's
    heads and neck in mmdet's projects).

    ``F.layer_norm`` over the channel-last view: the kernel of ``nn.LayerNorm`` (as timm,
    torchvision and mmpretrain compute it), and on channels-last tensors the view is
    contiguous, so nothing is copied. On one CPU thread (a loaded machine) it took 1.3 ms for a
    (2, 96, 56, 56) channels-last map, 3.1 ms contiguous, against 6.1 / 8.7 ms for a
    channels-first version with separate mean and variance reductions (2-10x slower at every
    ConvNeXt-T level).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


_LAYER_NORM_KEYS = ('type', 'eps', 'requires_grad')


def layer_norm_factory(norm_cfg, channels_first: bool = False,
                       default_eps: float = 1e-5) -> functools.partial:
    """The LayerNorm of ``norm_cfg`` with its eps (``default_eps`` where it names none), for
    the families that implement only LN; any other ``norm_cfg`` is refused by name.

    ``channels_first``: a :class:`LayerNorm2d` over the channels of NCHW maps (ConvNeXt),
    named ``'LN2d'`` (mmpretrain's) or ``'LN'`` (the layout is the family's); otherwise an
    ``nn.LayerNorm`` over the last dimension, named ``'LN'``. ``requires_grad`` is applied to
    the whole model by :func:`freeze_layer_norms`."""
    types = ('LN2d', 'LN') if channels_first else ('LN', )
    if not isinstance(norm_cfg, dict) or norm_cfg.get('type') not in types or not set(
            norm_cfg) <= set(_LAYER_NORM_KEYS):
        valid = ' or '.join(f'dict(type={t!r})' for t in types)
        raise ValueError(f'norm_cfg={norm_cfg!r}; only {valid} is implemented '
                         '(optional keys: eps, requires_grad)')
    layer = LayerNorm2d if channels_first else nn.LayerNorm
    return functools.partial(layer, eps=norm_cfg.get('eps', default_eps))


def freeze_layer_norms(model: nn.Module, norm_cfg) -> None:
    """``norm_cfg=dict(..., requires_grad=False)`` (mmcv's meaning): the weights and biases of
    every LayerNorm of ``model`` are not trained."""
    if norm_cfg is not None and not norm_cfg.get('requires_grad', True):
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.requires_grad_(False)
