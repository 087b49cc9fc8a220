"""The YOLO necks: YOLOv3's FPN-style neck, the PAFPN of YOLOX and the PAFPN of YOLOv5.

* ``YOLOV3Neck`` and ``YOLOXPAFPN`` are mmdet's classes, reused as they are (same arguments,
  keys and outputs) with ``out_channels`` exposed as a tuple per output. They are built through
  a factory so that ``import mmbackbones`` does not import mmdet.
* :class:`YOLOv5PAFPN` is this project's implementation of mmyolo's ``YOLOv5PAFPN`` (Liu et al.
  2018's path aggregation, with YOLOv5's C3 blocks; mmyolo itself is GPL-3.0 and never
  imported here): same arguments, parameter names and outputs.
"""
import functools
from typing import List, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from mmbackbones.registry import MODELS

from ..layers.divisible import make_divisible_yolov5
from ..layers.yolo import YOLO_ACT, YOLO_NORM, DarknetConv, CSPLayer, make_round

__all__ = ['YOLOV3Neck', 'YOLOXPAFPN', 'YOLOv5PAFPN']


@functools.lru_cache(maxsize=None)
def _with_out_channels(name: str) -> type:
    """mmdet's neck class ``name`` with ``out_channels`` as a tuple per output."""
    from mmdet.models import necks
    base = getattr(necks, name)

    def __init__(self, *args, **kwargs):
        base.__init__(self, *args, **kwargs)
        channels = self.out_channels
        if isinstance(channels, int):  # YOLOXPAFPN: one width for every output
            channels = [channels] * len(self.in_channels)
        self.out_channels = tuple(int(c) for c in channels)

    return type(name, (base, ), dict(__init__=__init__, __module__=__name__,
                                     __doc__=f"mmdet's ``{name}`` with ``out_channels`` "
                                     'as a tuple, one entry per output.'))


def YOLOV3Neck(**kwargs):  # noqa: N802  (a registered factory named like the class)
    """mmdet's ``YOLOV3Neck`` (YOLOv3, Sec. 2.3): ``in_channels`` lowest resolution first,
    as mmdet takes them (``[1024, 512, 256]`` for Darknet-53's levels 3..5, whose features it
    receives highest resolution first); ``out_channels`` per output, in output order (lowest
    resolution first)."""
    return _with_out_channels('YOLOV3Neck')(**kwargs)


def YOLOXPAFPN(**kwargs):  # noqa: N802
    """mmdet's ``YOLOXPAFPN`` (YOLOX): every output has ``out_channels`` channels; exposed
    as a tuple with one entry per output (highest resolution first)."""
    return _with_out_channels('YOLOXPAFPN')(**kwargs)


MODELS.register_module(name='YOLOV3Neck', module=YOLOV3Neck)
MODELS.register_module(name='YOLOXPAFPN', module=YOLOXPAFPN)


@MODELS.register_module()
class YOLOv5PAFPN(BaseModule):
    """Path-aggregation FPN of YOLOv5 v6 (PANet, Liu et al. 2018, arXiv 1803.01534, Fig. 1(b),
    with C3 blocks): a top-down path (1x1 reduce, nearest 2x upsampling, concatenation, CSP layer) and a
    bottom-up path (stride-2 3x3 conv, concatenation, CSP layer).

    mmyolo's arguments and meaning: ``in_channels`` and ``out_channels`` are the unscaled
    widths (e.g. ``[256, 512, 1024]``), multiplied by ``widen_factor`` and rounded up to a
    multiple of 8; the outputs have the (scaled) widths of the inputs, so ``out_channels`` must
    be those. ``num_csp_blocks`` is scaled by ``deepen_factor``; ``freeze_all`` freezes the
    whole neck. After construction ``out_channels`` is the tuple of real output channels and
    ``input_channels`` that of real input channels. :meth:`switch_to_deploy` gives the
    inference form.
    """
    #: The top-down path concatenates the upsampled map first (mmyolo's
    #: ``upsample_feats_cat_first``; YOLOv7's neck puts it second).
    upsample_feats_cat_first = True

    def __init__(self, in_channels: List[int], out_channels: Union[List[int], int],
                 deepen_factor: float = 1.0, widen_factor: float = 1.0,
                 num_csp_blocks: int = 1, freeze_all: bool = False,
                 norm_cfg: dict = YOLO_NORM, act_cfg: dict = YOLO_ACT, init_cfg=None):
        super().__init__(init_cfg)
        if not isinstance(in_channels, (list, tuple)) or len(in_channels) < 2:
            raise ValueError(f'in_channels={in_channels!r}; valid values are two or more ints, '
                             'highest resolution first')
        width = [make_divisible_yolov5(c, widen_factor) for c in in_channels]
        wanted = out_channels if isinstance(out_channels, (list, tuple)) else \
            [out_channels] * len(in_channels)
        if [make_divisible_yolov5(c, widen_factor) for c in wanted] != width:
            raise ValueError(f'out_channels={out_channels!r} with in_channels={in_channels!r}: '
                             "YOLOv5PAFPN's outputs have the widths of its inputs; valid value: "
                             f'out_channels={list(in_channels)}')
        self.in_channels = list(in_channels)
        self.deepen_factor, self.widen_factor = deepen_factor, widen_factor
        self.freeze_all = freeze_all
        blocks = make_round(num_csp_blocks, deepen_factor)
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        last = len(in_channels) - 1

        def csp(in_ch, out_ch):
            return CSPLayer(in_ch, out_ch, num_blocks=blocks, add_identity=False, **cfg)

        # mmyolo's layout: only the last input is reduced; the top-down layers run from the
        # lowest resolution up, each but the last ending in a 1x1 reduce for the next one.
        self.reduce_layers = nn.ModuleList(
            DarknetConv(width[i], width[i - 1], 1, **cfg) if i == last else nn.Identity()
            for i in range(len(width)))
        self.upsample_layers = nn.ModuleList(nn.Upsample(scale_factor=2, mode='nearest')
                                             for _ in range(last))
        def top_down(i):
            fuse = csp(make_divisible_yolov5(in_channels[i - 1] * 2, widen_factor), width[i - 1])
            if i == 1:
                return fuse
            return nn.Sequential(fuse, DarknetConv(width[i - 1], width[i - 2], 1, **cfg))

        self.top_down_layers = nn.ModuleList(top_down(i) for i in range(last, 0, -1))
        self.downsample_layers = nn.ModuleList(DarknetConv(width[i], width[i], 3, 2, **cfg)
                                               for i in range(last))
        self.bottom_up_layers = nn.ModuleList(
            csp(make_divisible_yolov5(in_channels[i] * 2, widen_factor), width[i + 1])
            for i in range(last))
        self.out_layers = nn.ModuleList(nn.Identity() for _ in width)
        self.out_channels = tuple(width)
        self.input_channels = tuple(width)  # the real widths of the inputs

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} got {len(inputs)} inputs; in_channels '
                             f'names {len(self.in_channels)}')
        for high, low in zip(inputs, inputs[1:]):
            # each level is fused with the 2x upsampled next one: the sizes must halve exactly
            if high.shape[-2] != 2 * low.shape[-2] or high.shape[-1] != 2 * low.shape[-1]:
                raise ValueError(
                    f'{type(self).__name__} got maps of sizes '
                    f'{[tuple(x.shape[-2:]) for x in inputs]}; each must be twice the next: '
                    'pad the image to a multiple of the largest stride (32), as the detectors '
                    'do')
        reduced = [layer(x) for layer, x in zip(self.reduce_layers, inputs)]
        inner = [reduced[-1]]  # top-down, lowest resolution first
        for step, index in enumerate(range(len(inputs) - 1, 0, -1)):
            lateral = reduced[index - 1]
            upsampled = self.upsample_layers[step](inner[0])
            pair = [upsampled, lateral] if self.upsample_feats_cat_first else [lateral, upsampled]
            inner.insert(0, self.top_down_layers[step](torch.cat(pair, 1)))
        outs = [inner[0]]  # bottom-up, highest resolution first
        for index in range(len(inputs) - 1):
            down = self.downsample_layers[index](outs[-1])
            outs.append(self.bottom_up_layers[index](torch.cat([down, inner[index + 1]], 1)))
        return tuple(layer(x) for layer, x in zip(self.out_layers, outs))

    def train(self, mode: bool = True):
        if mode and self.__dict__.get('deployed', False):
            raise RuntimeError(
                f'{type(self).__name__} was switched to its deploy form (switch_to_deploy()) '
                'and cannot train any more; build a new neck and load the training-form '
                'checkpoint to train')
        super().train(mode)
        if self.freeze_all:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
                for param in module.parameters(recurse=False):
                    param.requires_grad = False
        return self

    def switch_to_deploy(self):
        """The inference form, in place, as a backbone's (docs/deploy.md): re-parameterisable
        blocks (RepVGG) fused into single convs, then every BatchNorm that only follows a conv
        folded into it, found by tracing one forward pass of small inputs (2x2 maps at the
        lowest resolution). Leaves the neck in eval mode, refusing ``train()``; a no-op the
        second time. Returns ``self``."""
        from ..layers.deploy import find_conv_bn_pairs, fold_pairs, switch_blocks_to_deploy
        if self.__dict__.get('deployed', False):
            return self
        self.eval()
        switch_blocks_to_deploy(self)
        param = next(self.parameters())
        last = len(self.input_channels) - 1
        gen = torch.Generator().manual_seed(0)  # as a backbone's: the global state untouched
        example = [torch.rand(1, c, 2 << (last - i), 2 << (last - i), generator=gen).to(
            param.device, param.dtype) for i, c in enumerate(self.input_channels)]
        fold_pairs(self, find_conv_bn_pairs(self, example))
        self.deployed = True
        return self
