"""YOLOv7's backbone beyond the registry-wide battery: sizes that are not multiples of the
largest stride (mmyolo's max-pools floor and its MP blocks then fail; ours keep ceil(H / s)).
YOLOv7's neck against mmyolo's, in training and deploy form."""
import math
import os.path as osp

import pytest
import torch

from mmbackbones.references import build_openmmlab
from mmbackbones.registry import MODELS


@pytest.mark.parametrize('arch', ['Tiny', 'L'])
def test_odd_sizes_give_ceil_sized_levels(arch):
    model = MODELS.build(dict(type='mmbackbones.YOLOv7Backbone', arch=arch,
                              widen_factor=0.125)).eval()
    size = (72, 104)  # stride-8 map 9x13: odd below
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *size))
    for out, stride, channels in zip(outs, model.out_strides, model.out_channels):
        assert out.shape[1:] == (channels, math.ceil(size[0] / stride),
                                 math.ceil(size[1] / stride))


def test_mmyolo_cannot_run_these_sizes():
    """Why the parity sizes of the YOLOv7 rows are multiples of 32 (P6: 64)."""
    pytest.importorskip('mmyolo')
    from mmbackbones.references import build_openmmlab
    ref = build_openmmlab(dict(type='YOLOv7Backbone', arch='L', widen_factor=0.125), 'mmyolo')
    ref.eval()
    with pytest.raises(RuntimeError), torch.no_grad():
        ref(torch.rand(1, 3, 72, 104))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='arch'):
        MODELS.build(dict(type='mmbackbones.YOLOv7Backbone', arch='M'))
    with pytest.raises(ValueError, match='input_channels'):
        MODELS.build(dict(type='mmbackbones.YOLOv7Backbone', input_channels=4))


# ------------------------------------------------------------------------ the neck
def _mmyolo_neck(config):
    """The neck dict of one of mmyolo's YOLOv7 configs, as a user would paste it."""
    from mmengine.config import Config

    from .helpers import openmmlab_config_dir
    path = osp.join(openmmlab_config_dir('mmyolo'), 'yolov7', config)
    return Config.fromfile(path).model.neck.to_dict()


def _neck_inputs(neck, image_size):
    """Random backbone levels of ``image_size`` for ``neck`` (strides 8, 16, ...)."""
    return [torch.rand(1, c, math.ceil(image_size[0] / 2**(3 + i)),
                       math.ceil(image_size[1] / 2**(3 + i)))
            for i, c in enumerate(neck.input_channels)]


def _run(model, x):
    with torch.no_grad():
        return model(x)


# (mmyolo config, image sizes mmyolo's neck can run: multiples of the largest stride, one with
# odd maps at the lowest resolution)
P5_SIZES, P6_SIZES = ((64, 96), (96, 224)), ((128, 192), (192, 320))
NECKS = [  # (config, image sizes, overrides): the default run narrows YOLOv7-L's neck
    pytest.param('yolov7_tiny_syncbn_fast_8x16b-300e_coco.py', P5_SIZES, {}, id='tiny'),
    pytest.param('yolov7_l_syncbn_fast_8x16b-300e_coco.py', P5_SIZES, dict(widen_factor=0.25),
                 id='l-narrow'),
    pytest.param('yolov7_l_syncbn_fast_8x16b-300e_coco.py', P5_SIZES, {}, id='l',
                 marks=pytest.mark.slow),
    pytest.param('yolov7_x_syncbn_fast_8x16b-300e_coco.py', P5_SIZES, {}, id='x',
                 marks=pytest.mark.slow),
    pytest.param('yolov7_w-p6_syncbn_fast_8x16b-300e_coco.py', P6_SIZES, {}, id='w-p6',
                 marks=pytest.mark.slow),
    pytest.param('yolov7_e2e-p6_syncbn_fast_8x16b-300e_coco.py', P6_SIZES, {}, id='e2e-p6',
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize('config,sizes,overrides', NECKS)
def test_yolov7_pafpn_equals_mmyolo_in_both_forms(config, sizes, overrides, tmp_path):
    """mmyolo's neck dict pasted with only ``type`` changed: mmyolo's weights (random, BatchNorm
    statistics included) load strictly and give mmyolo's outputs; the deploy form gives the
    same outputs with fewer modules, as mmyolo's after its own switch_to_deploy, refuses to
    train, and its state dict loads into another deployed instance."""
    pytest.importorskip('mmyolo')
    from mmbackbones.models.layers.repvgg import switch_to_deploy

    from .helpers import randomise
    cfg = dict(_mmyolo_neck(config), **overrides)
    ref = build_openmmlab(cfg, 'mmyolo')
    ours = build_openmmlab(dict(cfg, type='mmbackbones.YOLOv7PAFPN'), 'mmyolo')
    assert type(ours).__module__ == 'mmbackbones.models.necks.yolov7'
    randomise(ref, every_parameter=True)
    ours.load_state_dict(ref.state_dict(), strict=True)  # mmyolo's keys
    ours.eval(), ref.eval()  # (mmyolo's train() returns None)
    inputs = [_neck_inputs(ours, size) for size in sizes]
    trained = [_run(ref, x) for x in inputs]
    for x, expected in zip(inputs, trained):
        outs = _run(ours, x)
        assert tuple(o.shape[1] for o in outs) == ours.out_channels
        for got, want in zip(outs, expected):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)

    def working(model):  # leaf modules that compute something
        return [m for m in model.modules()
                if not list(m.children()) and not isinstance(m, torch.nn.Identity)]

    before = len(working(ours))
    assert ours.switch_to_deploy() is ours
    assert len(working(ours)) < before
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ours.modules())
    switch_to_deploy(ref)  # mmyolo's own (its RepVGG blocks)
    for x, expected in zip(inputs, trained):
        deployed, theirs = _run(ours, x), _run(ref, x)
        for got, want, mmyolo_deployed in zip(deployed, expected, theirs):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
            torch.testing.assert_close(got, mmyolo_deployed, atol=1e-4, rtol=0)
    with pytest.raises(RuntimeError, match='deploy form'):
        ours.train()
    torch.save(ours.state_dict(), tmp_path / 'deployed.pth')
    fresh = build_openmmlab(dict(cfg, type='mmbackbones.YOLOv7PAFPN'), 'mmyolo')
    fresh.switch_to_deploy().load_state_dict(torch.load(tmp_path / 'deployed.pth'), strict=True)
    for got, want in zip(_run(fresh, inputs[0]), _run(ours, inputs[0])):
        assert torch.equal(got, want)


def test_yolov7_pafpn_refuses_maps_that_do_not_halve():
    """Levels of ``ceil(H / stride)`` rows (our backbone's at 72x104) cannot be fused with
    their 2x upsampled neighbours: a ValueError that says to pad (mmyolo's neck fails inside
    torch.cat)."""
    pytest.importorskip('mmyolo')
    cfg = dict(_mmyolo_neck('yolov7_l_syncbn_fast_8x16b-300e_coco.py'), widen_factor=0.125)
    ours = build_openmmlab(dict(cfg, type='mmbackbones.YOLOv7PAFPN'), 'mmyolo').eval()
    x = _neck_inputs(ours, (72, 104))  # levels 9x13, 5x7, 3x4
    with pytest.raises(ValueError, match='pad the image to a multiple'):
        _run(ours, x)
    ref = build_openmmlab(cfg, 'mmyolo')
    ref.eval()  # (returns None)
    with pytest.raises(RuntimeError):
        _run(ref, x)


def test_yolov7_pafpn_refuses_bad_arguments():
    with pytest.raises(ValueError, match='block_cfg type'):
        MODELS.build(dict(type='mmbackbones.YOLOv7PAFPN', in_channels=[8, 16, 32],
                          out_channels=[8, 16, 32], block_cfg=dict(type='CSPLayer')))
    with pytest.raises(ValueError, match='in_channels'):
        MODELS.build(dict(type='mmbackbones.YOLOv7PAFPN', in_channels=[8, 16, 32],
                          out_channels=[8, 16]))


def test_yolov7_pafpn_initialises_as_mmyolo():
    """mmyolo's YOLOv7PAFPN keeps mmcv ConvModule's Kaiming (fan-out) initialisation (its
    YOLOv5 / YOLOv6 necks reset to PyTorch's): every conv weight has its spread (PyTorch's
    default would be 2-4x narrower)."""
    pytest.importorskip('mmyolo')
    cfg = dict(_mmyolo_neck('yolov7_l_syncbn_fast_8x16b-300e_coco.py'), widen_factor=0.25)
    _assert_conv_spreads_equal_mmyolos(cfg, 'mmbackbones.YOLOv7PAFPN', min_checked=21)


def _assert_conv_spreads_equal_mmyolos(cfg, our_type, min_checked):
    """After init_weights() from the same seed, every conv weight of at least 4096 values has
    the spread (std) of mmyolo's within 15%; at least ``min_checked`` of them."""
    torch.manual_seed(0)
    ref = build_openmmlab(cfg, 'mmyolo')
    ref.init_weights()
    ours = build_openmmlab(dict(cfg, type=our_type), 'mmyolo')
    ours.init_weights()
    theirs = ref.state_dict()
    checked = 0
    for key, weight in ours.state_dict().items():
        if key.endswith('conv.weight') and weight.numel() >= 4096:
            ratio = float(weight.std() / theirs[key].std())
            assert 0.85 < ratio < 1.15, (key, ratio)
            checked += 1
    assert checked >= min_checked


@pytest.mark.parametrize('cfg', [
    dict(type='YOLOv7Backbone', arch='Tiny', act_cfg=dict(type='LeakyReLU', negative_slope=0.1)),
    dict(type='YOLOv7Backbone', arch='L', widen_factor=0.25),
    dict(type='PPYOLOECSPResNet', widen_factor=0.25, use_large_stem=True),
], ids=['yolov7-tiny', 'yolov7-l', 'ppyoloe-plus'])
def test_backbone_initialises_as_mmyolo(cfg):
    """mmyolo's YOLOv7 and PP-YOLOE backbones keep mmcv ConvModule's Kaiming (fan-out)
    initialisation at construction; PyTorch's default would be 2-4x narrower."""
    pytest.importorskip('mmyolo')
    _assert_conv_spreads_equal_mmyolos(cfg, f"mmbackbones.{cfg['type']}", min_checked=11)
