"""Convolutions and block plugins from mmcv-style configs.

``conv_cfg`` / ``dcn`` (``ConvWS``, ``DCN``, ``DCNv2``, ...) and ``plugins`` (``ContextBlock``,
``NonLocal2d``, ``GeneralizedAttention``, ...) are built by mmcv's builders, so that OpenMMLab
configs mean here what they mean in mmdet. mmcv is imported only when such a config is given.
"""
from typing import List, Optional, Sequence

import torch.nn as nn

PLUGIN_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')


def build_conv(conv_cfg: Optional[dict], *args, **kwargs) -> nn.Module:
    """``nn.Conv2d(*args, **kwargs)``, or the conv layer of ``conv_cfg`` (mmcv)."""
    if conv_cfg is None:
        return nn.Conv2d(*args, **kwargs)
    if not isinstance(conv_cfg, dict) or 'type' not in conv_cfg:
        raise TypeError(f"conv_cfg={conv_cfg!r}; valid values are None or a dict with 'type' "
                        "(e.g. dict(type='ConvWS'))")
    from mmcv.cnn import build_conv_layer
    return build_conv_layer(dict(conv_cfg), *args, **kwargs)


def check_dcn(dcn: Optional[dict], conv_cfg: Optional[dict]) -> Optional[dict]:
    """Validate mmdet's ``dcn`` dict; return a copy without ``fallback_on_stride``."""
    if dcn is None:
        return None
    if not isinstance(dcn, dict) or 'type' not in dcn:
        raise TypeError(f"dcn={dcn!r}; valid values are None or a dict with 'type' "
                        "(e.g. dict(type='DCN', deform_groups=1))")
    dcn = dict(dcn)
    fallback = dcn.pop('fallback_on_stride', False)
    if fallback:
        # mmdet pops the key from the dict all blocks share, so only the first deformable
        # block falls back to a plain conv: a network nobody means to build.
        raise ValueError('dcn.fallback_on_stride=True is not supported (in mmdet it makes only '
                         'the first block use a plain conv); valid values: False')
    if conv_cfg is not None:
        raise ValueError(f'conv_cfg={conv_cfg!r} with dcn={dcn!r}: mmdet requires conv_cfg=None '
                         'for deformable convs; valid values: conv_cfg=None')
    return dcn


def stage_plugins(plugins: Optional[Sequence[dict]], stage: int, num_stages: int) -> List[dict]:
    """The plugins (``dict(cfg, position)``) of stage ``stage`` (mmdet's ``make_stage_plugins``)."""
    if plugins is None:
        return []
    if not isinstance(plugins, (list, tuple)):
        raise TypeError(f'plugins={plugins!r}; valid values are None or a list of '
                        "dict(cfg=..., position=..., stages=...)")
    out = []
    for plugin in plugins:
        if not isinstance(plugin, dict) or 'cfg' not in plugin or 'position' not in plugin:
            raise ValueError(f"plugins entry {plugin!r}: needs 'cfg' and 'position' "
                             f'(one of {PLUGIN_POSITIONS}), optionally stages')
        unknown = set(plugin) - {'cfg', 'position', 'stages'}
        if unknown:
            raise ValueError(f'plugins entry {plugin!r}: unknown keys {sorted(unknown)}; valid '
                             "keys are 'cfg', 'position', 'stages'")
        if plugin['position'] not in PLUGIN_POSITIONS:
            raise ValueError(f"plugins position={plugin['position']!r}; valid values are "
                             f'{list(PLUGIN_POSITIONS)}')
        stages = plugin.get('stages')
        if stages is not None and len(stages) != num_stages:
            raise ValueError(f'plugins stages={stages!r}: needs one bool per stage '
                             f'(num_stages={num_stages})')
        if stages is None or stages[stage]:
            out.append(dict(cfg=dict(plugin['cfg']), position=plugin['position']))
    return out


class PluginMixin:
    """Builds a block's plugins under mmcv's names (``context_block``, ``gen_attention_block``,
    ...) so that mmdet's parameter keys stay unchanged, and runs them in order at a position."""

    def _build_plugins(self, plugins: Sequence[dict], channels: dict) -> None:
        self._plugin_names = {position: [] for position in PLUGIN_POSITIONS}
        if not plugins:
            return
        from mmcv.cnn import build_plugin_layer
        for plugin in plugins:
            cfg = dict(plugin['cfg'])
            position = plugin['position']
            name, layer = build_plugin_layer(cfg, postfix=cfg.pop('postfix', ''),
                                             in_channels=channels[position])
            if hasattr(self, name):
                raise ValueError(f'plugins: two plugins named {name!r} in one block; give '
                                 "them different 'postfix' values")
            self.add_module(name, layer)
            self._plugin_names[position].append(name)

    def _run_plugins(self, position: str, x):
        for name in self._plugin_names[position]:
            x = getattr(self, name)(x)
        return x

    def plugin_modules(self) -> List[nn.Module]:
        return [getattr(self, n) for names in self._plugin_names.values() for n in names]
