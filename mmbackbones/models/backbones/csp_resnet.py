"""PP-YOLOE's CSPRepResNet (Xu et al. 2022, "PP-YOLOE: An evolved version of YOLO",
arXiv 2203.16250, Sec. 2.2 "Scalable backbone and neck"), scaled by ``deepen_factor`` /
``widen_factor``.

A stem of 3x3 convs (stride 2; PP-YOLOE+'s ``use_large_stem`` has three), then four CSP
stages (CSPRepResStage): a stride-2 3x3 conv, two 1x1 convs that split the input, RepResBlocks
(a 3x3 conv, then a RepVGG block without identity branch, plus the input) on one path, and the
effective squeeze-excitation (ESE, from CenterMask's VoVNetV2) over the concatenation before
the fusing 1x1 conv. The RepVGG blocks fuse into single convs with ``switch_to_deploy()``.

Keys are mmyolo's ``PPYOLOECSPResNet``'s, in both forms. Levels: 0 the stem (stride 2),
1..4 the stages (strides 4..32); ``frozen_stages=k`` freezes the stem and stages 1..k.
"""
from typing import Optional, Sequence

import torch.nn as nn

from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import has_key_prefixes, register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers.args import check_choice
from ..layers.ppyoloe import PPYOLOE_ACT, PPYOLOE_NORM, CSPRepResStage, check_type
from ..layers.yolo import DarknetConv, conv_module_init
from .base import StemStagesBackbone
from .darknet import openmmlab_norm_names

__all__ = ['PPYOLOECSPResNet']

# Per stage: in_channels, out_channels, num_blocks (before scaling), as mmyolo / PaddleDetection.
PPYOLOE_P5 = ((64, 128, 3), (128, 256, 6), (256, 512, 6), (512, 1024, 3))


@MODELS.register_module()
class PPYOLOECSPResNet(StemStagesBackbone):
    """mmyolo's ``PPYOLOECSPResNet``: the backbone of PP-YOLOE and (``use_large_stem=True``)
    PP-YOLOE+.

    Args (mmyolo's):
        arch: ``'P5'``.
        deepen_factor, widen_factor: blocks ``round(n * deepen_factor)``, channels
            ``int(c * widen_factor)``.
        input_channels: image channels.
        out_indices: levels to return; 0 the stem, 1..4 the stages. Default (2, 3, 4).
        frozen_stages: ``-1`` nothing; ``k`` the stem and stages 1..k.
        plugins: must be None.
        arch_ovewrite: replaces the arch table: ``[in_channels, out_channels, num_blocks]``
            per stage.
        block_cfg: ``dict(type='PPYOLOEBasicBlock', shortcut=..., use_alpha=...)``.
        norm_cfg, act_cfg: of every conv (BN momentum 0.1 / eps 1e-5, SiLU).
        attention_cfg: ``dict(type='EffectiveSELayer', act_cfg=...)`` or None (no ESE).
        norm_eval, with_cp, init_cfg, pretrained: see :class:`BaseBackbone`.
        use_large_stem: PP-YOLOE+'s stem, with a third 3x3 conv.
    """
    arch_settings = {'P5': PPYOLOE_P5}
    frozen_stages_offset = 1

    def _init_default_weights(self) -> None:
        # mmyolo's PPYOLOECSPResNet keeps mmcv ConvModule's Kaiming fan-out init (it resets nothing)
        conv_module_init(self)

    def __init__(self, arch: str = 'P5', deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, input_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4), frozen_stages: int = -1,
                 plugins=None, arch_ovewrite=None,
                 block_cfg: dict = dict(type='PPYOLOEBasicBlock', shortcut=True,
                                        use_alpha=True),
                 norm_cfg: dict = PPYOLOE_NORM, act_cfg: dict = PPYOLOE_ACT,
                 attention_cfg: Optional[dict] = dict(type='EffectiveSELayer',
                                                      act_cfg=dict(type='HSigmoid')),
                 norm_eval: bool = False, init_cfg=None, use_large_stem: bool = False,
                 with_cp: bool = False, pretrained: Optional[str] = None):
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        self._check_yolo_args(plugins, deepen_factor, widen_factor)
        check_type('block_cfg', block_cfg, 'PPYOLOEBasicBlock')
        if attention_cfg is not None:
            check_type('attention_cfg', attention_cfg, 'EffectiveSELayer')
        setting = self.resolve_arch(arch)
        if arch_ovewrite:
            if not all(isinstance(row, (list, tuple)) and len(row) == 3 for row in arch_ovewrite):
                raise ValueError(f'arch_ovewrite={arch_ovewrite!r}; valid values are lists of '
                                 '[in_channels, out_channels, num_blocks] per stage')
            setting = arch_ovewrite
        self.arch = arch
        check_choice('use_large_stem', use_large_stem, (True, False))
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        stages = [(int(i * widen_factor), int(o * widen_factor), round(n * deepen_factor))
                  for i, o, n in setting]
        stem_channels = stages[0][0]
        half = stem_channels // 2
        stem = [DarknetConv(input_channels, half, 3, 2, **cfg)]
        if use_large_stem:
            stem.append(DarknetConv(half, half, 3, **cfg))
        stem.append(DarknetConv(half, stem_channels, 3, **cfg))
        self.stem = nn.Sequential(*stem)
        channels, strides = [stem_channels], [2]
        for in_ch, out_ch, num_blocks in stages:
            self._add_stage(CSPRepResStage(in_ch, out_ch, num_blocks, block_cfg, norm_cfg,
                                           act_cfg, attention_cfg, stride=2))
            channels.append(out_ch)
            strides.append(strides[-1] * 2)
        self._setup_levels(channels, strides)


# ---------------------------------------------------------------------------- weights
@register_converter(PPYOLOECSPResNet, 'mmyolo',
                    detect=lambda sd: has_key_prefixes(sd, 'stem.0.', 'stage1.0.conv_down.'))
def convert_mmyolo(state_dict, model):
    return openmmlab_norm_names(state_dict)


# ----------------------------------------------------------------------------------- zoo
_PAPER = 'Xu et al. 2022 (PP-YOLOE), arXiv 2203.16250; mmyolo PPYOLOECSPResNet'
_SIZES = ((128, 160), (96, 136))  # the second: no side a multiple of 32
_INPUT = (128, 160)
_DEFAULT_RUN = {'cspresnet_s_plus'}
_FACTORS = {'s': (0.33, 0.5), 'm': (0.67, 0.75), 'l': (1.0, 1.0), 'x': (1.33, 1.25)}
# mmyolo's PPYOLOECSPResNet, training form: PP-YOLOE, and PP-YOLOE+ (use_large_stem).
_PARAMS = {'s': 2990646, 'm': 9312204, 'l': 21149490, 'x': 40226184}
_PARAMS_PLUS = {'s': 2992982, 'm': 9317436, 'l': 21158770, 'x': 40240664}


def _row(size, plus):
    deepen, widen = _FACTORS[size]
    cfg = dict(deepen_factor=deepen, widen_factor=widen)
    if plus:
        cfg['use_large_stem'] = True
    name = f'cspresnet_{size}' + ('_plus' if plus else '')
    return Variant(name=name, family='PPYOLOECSPResNet', cfg=cfg,
                   refs=dict(mmyolo=dict(type='PPYOLOECSPResNet', **cfg)),
                   params=(_PARAMS_PLUS if plus else _PARAMS)[size], paper=_PAPER,
                   test_input=_INPUT, parity_sizes=_SIZES, slow=name not in _DEFAULT_RUN)


register_variants([_row(size, plus) for plus in (False, True) for size in _FACTORS])
