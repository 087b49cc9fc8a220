"""Channel bookkeeping between our backbone and the neck / decode heads, before training.

``check_channels(cfg)`` builds the config's backbone on the meta device (no memory, no
weights), reads the channels it returns and compares them with what consumes them:

* mmdet / mmyolo: ``model.neck.in_channels`` (the first neck of a list), as the neck reads
  them (YOLOv3's neck lists them lowest resolution first, mmyolo's scale them by
  ``widen_factor``);
* mmseg without a neck: ``decode_head`` / ``auxiliary_head`` ``in_channels`` at their
  ``in_index``.

``in_channels='auto'`` is filled in (and for mmseg heads ``in_index='auto'``: every level for
multi-level heads such as UPerHead, the last level for the decode head and the one before for
an auxiliary head). A mismatch raises :class:`ChannelMismatchError`, which names both lists
and the fix. Works with mmdet's and mmseg's own runners too::

    cfg = Config.fromfile('configs/swin_maskrcnn.py')
    mmbackbones.check_channels(cfg)   # before Runner.from_cfg(cfg)
"""
import difflib
import importlib
import inspect
import re

import torch

from mmbackbones.errors import UsageError

__all__ = ['check_channels', 'backbone_channels', 'neck_input_channels', 'ChannelMismatchError',
           'BackboneConfigError']

PREFIX = 'mmbackbones.'
# mmseg heads that take every level they are given (input_transform 'multiple_select' or their
# own multi-level fusion)
MULTI_LEVEL_HEADS = {'UPerHead', 'FPNHead', 'SegformerHead', 'SETRUPHead', 'SETRMLAHead',
                     'DPTHead', 'Mask2FormerHead', 'MaskFormerHead', 'KernelUpdateHead',
                     'PIDHead', 'DDRHead', 'LightHamHead', 'SegmenterMaskTransformerHead'}


class ChannelMismatchError(UsageError, ValueError):
    """A neck or head expects other channels than the backbone returns."""


class BackboneConfigError(UsageError, ValueError):
    """``model.backbone`` cannot be built with the arguments the config gives it."""


def _build_error(cls, backbone_type, err):
    """One message for a backbone that refused its arguments; a misspelt argument gets the
    nearest names the class takes."""
    message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    hint = ''
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", message)
    if isinstance(err, TypeError) and unexpected:
        params = [p for p in inspect.signature(cls).parameters
                  if p not in ('self', 'args', 'kwargs')]
        close = difflib.get_close_matches(unexpected.group(1), params, n=3, cutoff=0.6)
        hint = (f' Did you mean {" or ".join(repr(c) for c in close)}?' if close else
                f' {cls.__name__} takes: {", ".join(params)}.')
    return f'model.backbone ({backbone_type}): {message.rstrip(".")}.{hint}'


def backbone_channels(backbone_cfg):
    """``(out_channels, out_indices)`` of one of our backbones, built on the meta device.

    Returns ``None`` for a backbone that is not ours (no ``mmbackbones.`` type): its channels
    are not known without building it for real.
    """
    backbone_type = str(backbone_cfg.get('type', ''))
    if not backbone_type.startswith(PREFIX):
        return None
    importlib.import_module('mmbackbones')  # registers the families
    from mmbackbones.registry import MODELS
    kwargs = {k: v for k, v in dict(backbone_cfg).items() if k not in ('type', '_scope_')}
    kwargs['init_cfg'] = None
    if kwargs.get('norm_cfg', {}).get('type') in ('SyncBN', 'MMSyncBN'):
        kwargs['norm_cfg'] = dict(kwargs['norm_cfg'], type='BN')  # same channels, any device
    cls = MODELS.get(backbone_type)  # by class: no switch to the current default scope
    if cls is None:
        raise ChannelMismatchError(f'model.backbone.type={backbone_type!r} is not registered; '
                                   f'registered: {", ".join(sorted(MODELS.module_dict))}')
    try:
        with torch.device('meta'):
            backbone = cls(**kwargs)
    except (TypeError, ValueError, KeyError) as err:  # the arguments' own checks
        raise BackboneConfigError(_build_error(cls, backbone_type, err)) from err
    return [int(c) for c in backbone.out_channels], tuple(backbone.out_indices)


def _describe(backbone_cfg, channels, indices):
    return (f'model.backbone ({backbone_cfg["type"]}, out_indices={indices}) returns '
            f'out_channels={channels}')


# Necks that list in_channels lowest resolution first (they receive the levels highest first).
REVERSED_NECKS = {'YOLOV3Neck'}


def neck_input_channels(neck):
    """The channels a neck config consumes, in the backbone's output order, as the neck reads
    its ``in_channels``: mmdet's YOLOV3Neck lists them lowest resolution first; mmyolo's necks
    (a ``widen_factor`` beside them) list unscaled widths, which they multiply and round up to
    a multiple of 8. ``None`` where the neck names none (or ``'auto'``)."""
    if 'backbone_channel' in neck:  # ViTDet's SimpleFPN: one map; in_channels are its levels'
        return [neck['backbone_channel']]
    wanted = neck.get('in_channels')
    if wanted is None or wanted == 'auto':
        return None
    listed = list(wanted) if isinstance(wanted, (list, tuple)) else [wanted]
    if str(neck.get('type', '')).split('.')[-1] in REVERSED_NECKS:
        listed.reverse()
    if 'widen_factor' in neck:
        from mmbackbones.models.layers.divisible import make_divisible_yolov5
        listed = [make_divisible_yolov5(c, neck['widen_factor']) for c in listed]
    return listed


def _check_neck(neck, key, backbone_cfg, channels, indices):
    wanted = neck.get('in_channels')
    if wanted == 'auto':
        if 'widen_factor' in neck:
            raise ChannelMismatchError(
                f'{key}.in_channels="auto" with {key}.widen_factor: this neck scales its '
                'in_channels, so they cannot be taken from the backbone; list the unscaled '
                f'widths (the backbone returns {channels})')
        auto = list(channels)
        if str(neck.get('type', '')).split('.')[-1] in REVERSED_NECKS:
            auto.reverse()
        neck['in_channels'] = auto
        return
    listed = neck_input_channels(neck)
    if listed is None:
        return
    if listed != channels:
        raise ChannelMismatchError(
            f'{key}.in_channels={listed} does not match the backbone: '
            f'{_describe(backbone_cfg, channels, indices)}. Fix: set {key}.in_channels='
            f'{channels} (or "auto" to take them from the backbone), or change '
            'model.backbone.out_indices so that the backbone returns the levels the neck '
            'expects')


def _auto_index(head, key, num_levels):
    if head.get('type') in MULTI_LEVEL_HEADS:
        return list(range(num_levels))
    return num_levels - 1 if key.endswith('decode_head') else max(num_levels - 2, 0)


def _check_seg_head(head, key, backbone_cfg, channels, indices):
    if not isinstance(head, dict):
        return
    n = len(channels)
    index = head.get('in_index', -1)
    if index == 'auto':
        index = head['in_index'] = _auto_index(head, key, n)
    listed = index if isinstance(index, (list, tuple)) else [index]
    bad = [i for i in listed if not isinstance(i, int) or not -n <= i < n]
    if bad:
        raise ChannelMismatchError(
            f'{key}.in_index={index} points past the backbone\'s {n} outputs: '
            f'{_describe(backbone_cfg, channels, indices)}. Fix: in_index values in '
            f'0..{n - 1} (or "auto")')
    expected = [channels[i] for i in index] if isinstance(index, (list, tuple)) \
        else channels[index]
    wanted = head.get('in_channels')
    if wanted == 'auto':
        head['in_channels'] = expected
        return
    normalise = (lambda v: list(v) if isinstance(v, (list, tuple)) else v)  # noqa: E731
    if normalise(wanted) != expected:
        raise ChannelMismatchError(
            f'{key}.in_channels={normalise(wanted)} (in_index={index}) does not match the '
            f'backbone: {_describe(backbone_cfg, channels, indices)}, so in_index={index} '
            f'gives {expected}. Fix: set {key}.in_channels={expected} (or "auto"), or '
            f'{key}.in_index to the levels it should read')


def check_channels(cfg):
    """Fill ``'auto'`` channels / indices in ``cfg.model`` or raise :class:`ChannelMismatchError`.

    Modifies ``cfg`` in place and returns the backbone's ``out_channels`` (``None`` when the
    backbone is not one of ours, which is then left unchecked).
    """
    model = cfg.get('model') if hasattr(cfg, 'get') else None
    if not isinstance(model, dict) or not isinstance(model.get('backbone'), dict):
        return None
    backbone_cfg = model['backbone']
    info = backbone_channels(backbone_cfg)
    if info is None:
        return None
    channels, indices = info
    neck = model.get('neck')
    if isinstance(neck, (list, tuple)):
        neck, key = (neck[0], 'model.neck.0') if neck else (None, '')
    else:
        key = 'model.neck'
    if isinstance(neck, dict):
        _check_neck(neck, key, backbone_cfg, channels, indices)
        return channels
    for name in ('decode_head', 'auxiliary_head'):
        heads = model.get(name)
        if isinstance(heads, (list, tuple)):
            for i, head in enumerate(heads):
                _check_seg_head(head, f'model.{name}.{i}', backbone_cfg, channels, indices)
        else:
            _check_seg_head(heads, f'model.{name}', backbone_cfg, channels, indices)
    return channels
