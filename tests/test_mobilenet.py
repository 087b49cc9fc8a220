"""MobileNet beyond the contract: the mmdet / mmseg dicts of their own configs (dilated mmseg
MobileNetV2, LeakyReLU YOLOv3 MobileNetV2, mmseg's reduced MobileNetV3-Small) computed as
OpenMMLab computes them, frozen_stages as OpenMMLab freezes, and the defaults that follow the
scope a model is built in (mmdet builds MobileNetV2's last conv, mmseg has none and dilates its
MobileNetV3)."""
import pytest
import torch

import mmbackbones
from mmbackbones.references import build_openmmlab
from mmbackbones.weights import convert

from . import helpers
from .helpers import feature_mismatch, randomise

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope

# backbone dicts of mmdet's / mmseg's MobileNet configs
YOLOV3 = dict(type='MobileNetV2', out_indices=(2, 4, 6),
              act_cfg=dict(type='LeakyReLU', negative_slope=0.1))
SSDLITE = dict(type='MobileNetV2', out_indices=(4, 7),
               norm_cfg=dict(type='BN', eps=0.001, momentum=0.03))
DEEPLAB_D8 = dict(type='MobileNetV2', widen_factor=1., strides=(1, 2, 2, 1, 1, 1, 1),
                  dilations=(1, 1, 1, 2, 2, 4, 4), out_indices=(1, 2, 4, 6))
LRASPP_SMALL = dict(type='MobileNetV3', arch='small', out_indices=(0, 1, 12),
                    reduction_factor=2)


def _pair(cfg, library):
    """OpenMMLab's backbone (random weights) and ours from the same dict, holding them."""
    torch.manual_seed(0)
    theirs = build_openmmlab(cfg, library)
    randomise(theirs, every_parameter=True)
    ours = build_openmmlab(dict(cfg, type=f"mmbackbones.{cfg['type']}"), library)
    ours.load_state_dict(convert(theirs.state_dict(), ours, library), strict=True)
    theirs.eval()  # not chained: OpenMMLab's train() overrides return None
    ours.eval()
    return theirs, ours


@pytest.mark.parametrize('cfg,library', [(YOLOV3, 'mmdet'), (SSDLITE, 'mmdet'),
                                         (DEEPLAB_D8, 'mmseg'), (LRASPP_SMALL, 'mmseg')],
                         ids=['yolov3', 'ssdlite', 'deeplabv3_d8', 'lraspp_small_reduced'])
def test_openmmlab_dicts_compute_what_openmmlab_computes(cfg, library):
    theirs, ours = _pair(cfg, library)
    x = torch.rand(2, 3, 97, 131)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    expected = [expected] if torch.is_tensor(expected) else list(expected)
    assert [f.shape for f in got] == [f.shape for f in expected]
    assert tuple(f.shape[1] for f in got) == ours.out_channels
    assert max(feature_mismatch(got, expected)) <= 1e-4


@pytest.mark.parametrize('frozen_stages', [0, 3])
def test_frozen_stages_freeze_what_mmdet_freezes(frozen_stages):
    cfg = dict(YOLOV3, frozen_stages=frozen_stages)
    theirs, ours = _pair(cfg, 'mmdet')
    theirs.train()
    ours.train()
    frozen = convert({n: p.requires_grad for n, p in theirs.named_parameters()}, ours, 'mmdet')
    assert frozen == {n: p.requires_grad for n, p in ours.named_parameters()}
    assert not all(frozen.values())


def test_defaults_follow_the_openmmlab_scope():
    from mmengine.registry import DefaultScope
    with torch.device('meta'):
        plain_v2 = mmbackbones.MODELS.build(dict(type='mmbackbones.MobileNetV2'))
        plain_v3 = mmbackbones.MODELS.build(dict(type='mmbackbones.MobileNetV3', arch='large'))
        with DefaultScope.overwrite_default_scope('mmseg'):
            seg_v2 = mmbackbones.MODELS.build(dict(type='mmbackbones.MobileNetV2'))
            seg_v3 = mmbackbones.MODELS.build(dict(type='mmbackbones.MobileNetV3', arch='large'))
    assert plain_v2.out_indices == (1, 2, 4, 7) and plain_v2.level_channels[-1] == 1280
    assert seg_v2.out_indices == (1, 2, 4, 6) and seg_v2.num_levels == 7
    assert not hasattr(seg_v2, 'conv2')
    assert plain_v3.level_strides[-1] == 32 and seg_v3.level_strides[-1] == 8


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match='widen_factor'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.MobileNetV2', widen_factor=0))
    with pytest.raises(ValueError, match=r"arch='tiny'.*'large', 'small'"):
        mmbackbones.MODELS.build(dict(type='mmbackbones.MobileNetV3', arch='tiny'))
    with pytest.raises(ValueError, match='output_stride=4; valid values are'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.MobileNetV3', output_stride=4))
    with pytest.raises(ValueError, match='dilations'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.MobileNetV2', dilations=(1, 2)))
