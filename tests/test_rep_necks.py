"""The re-parameterisable YOLO necks: YOLOv6's CSP-Rep-PAN (``YOLOv6CSPRepPAFPN``) and
PP-YOLOE's CSPRepResPAN (``PPYOLOECSPPAFPN``), and the deploy form every YOLO PAFPN has.

Truths: mmyolo's classes of the same names with the same (randomised) weights, in training
form and after mmyolo's own ``switch_to_deploy``; and the training form of the same weights
(the deploy form must compute the same function). YOLOv6's Rep-PAN is checked against mmyolo
in tests/test_efficient_rep.py.

Sizes: a PAN concatenates each upsampled level with the next one, so its inputs must halve
exactly from level to level: the image side is a multiple of 32 (mmyolo's detectors pad to
one; a side that is not gives maps neither mmyolo's necks nor ours can fuse, and ours say so).
The second size gives odd maps at the lowest resolution (3x5), where an off-by-one in padding
would show.
"""
import copy
import io

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmbackbones.models.layers.repvgg import RepVGGBlock
from mmbackbones.registry import MODELS

from .helpers import randomise

SIZES = ((64, 96), (96, 160))  # image sizes; the neck gets the stride-8/16/32 maps
STRIDES = (8, 16, 32)

# mmyolo's neck dicts of its configs (type without scope), the backbone widths they take
CASES = {
    # yolov6/yolov6_n_syncbn_fast_8xb32-400e_coco.py: the Rep-PAN's own deploy form (its
    # training form and mmyolo's deploy form are checked in tests/test_efficient_rep.py)
    'yolov6_n': ('YOLOv6RepPAFPN', dict(
        in_channels=[256, 512, 1024], out_channels=[128, 256, 512], deepen_factor=0.33,
        widen_factor=0.25, num_csp_blocks=12), (64, 128, 256)),
    # yolov6/yolov6_m_syncbn_fast_8xb32-300e_coco.py (in/out channels from YOLOv6-s's base)
    'yolov6_m': ('YOLOv6CSPRepPAFPN', dict(
        in_channels=[256, 512, 1024], out_channels=[128, 256, 512], deepen_factor=0.6,
        widen_factor=0.75, block_cfg=dict(type='RepVGGBlock'), hidden_ratio=2. / 3,
        block_act_cfg=dict(type='ReLU', inplace=True)), (192, 384, 768)),
    # yolov6/yolov6_l_syncbn_fast_8xb32-300e_coco.py: ConvWrapper blocks with BN, SiLU
    'yolov6_l': ('YOLOv6CSPRepPAFPN', dict(
        in_channels=[256, 512, 1024], out_channels=[128, 256, 512], deepen_factor=1.0,
        widen_factor=1.0, hidden_ratio=1. / 2,
        block_cfg=dict(type='ConvWrapper', norm_cfg=dict(type='BN', momentum=0.03, eps=0.001)),
        block_act_cfg=dict(type='SiLU', inplace=True)), (256, 512, 1024)),
    # ppyoloe/ppyoloe_plus_s_fast_8xb8-80e_coco.py
    'ppyoloe_plus_s': ('PPYOLOECSPPAFPN', dict(
        in_channels=[256, 512, 1024], out_channels=[192, 384, 768], deepen_factor=0.33,
        widen_factor=0.5, num_csplayer=1, num_blocks_per_layer=3,
        block_cfg=dict(type='PPYOLOEBasicBlock', shortcut=False, use_alpha=False),
        norm_cfg=dict(type='BN', momentum=0.1, eps=1e-5), act_cfg=dict(type='SiLU', inplace=True),
        drop_block_cfg=None, use_spp=True), (128, 256, 512)),
    # the paths no shipped config takes: two stages per fusion point, no SPP, a DropBlock
    # (the identity in eval mode), RepResBlocks with shortcut and alpha
    'ppyoloe_two_layers': ('PPYOLOECSPPAFPN', dict(
        in_channels=[256, 512, 1024], out_channels=[192, 384, 768], deepen_factor=0.67,
        widen_factor=0.25, num_csplayer=2, num_blocks_per_layer=3,
        block_cfg=dict(type='PPYOLOEBasicBlock', shortcut=True, use_alpha=True),
        drop_block_cfg=dict(type='mmdet.DropBlock', drop_prob=0.1, block_size=3,
                            warm_iters=0)), (64, 128, 256)),
}
# The default run: YOLOv6-m's and PP-YOLOE+-s's dicts at a quarter of the width and
# channels (the same code paths, a fraction of the time); the full widths and the other
# cases -m slow.
NARROW = {'yolov6_m': 0.25, 'ppyoloe_plus_s': 0.25}


def _inputs(channels, size, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(1, c, size[0] // s, size[1] // s, generator=gen)
            for c, s in zip(channels, STRIDES)]


def _run(model, inputs):
    with torch.no_grad():
        return model(inputs)


def _assert_close(a, b, atol):
    """float32, ``atol`` for activations of order 1. Random weights reach activations of
    ~100 in YOLOv6's necks, where float32 rounding of the fused kernels alone is ~1e-6 of the
    largest (mmyolo's own deploy form is that far from its training form): the tolerance
    grows by 4e-6 of each tensor's largest magnitude."""
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        torch.testing.assert_close(u, v, atol=atol + 4e-6 * float(v.abs().max()), rtol=0)


def _num_modules(model):
    """Modules that compute something (a folded BatchNorm leaves an ``nn.Identity``)."""
    return sum(not isinstance(m, torch.nn.Identity) for m in model.modules())


def _num_norms(model):
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def _cases():
    for name in CASES:
        if name in NARROW:
            yield pytest.param(name, NARROW[name], id=f'{name}-narrow')
        yield pytest.param(name, 1.0, id=name, marks=pytest.mark.slow)


@pytest.mark.parametrize('case,narrow', _cases())
def test_neck_equals_mmyolo_in_training_and_deploy_form(case, narrow):
    pytest.importorskip('mmyolo')
    from mmyolo.utils import switch_to_deploy as mmyolo_switch_to_deploy

    from mmbackbones.references import build_openmmlab
    neck_type, cfg, channels = copy.deepcopy(CASES[case])
    cfg['widen_factor'] *= narrow
    channels = [int(c * narrow) for c in channels]
    ref = build_openmmlab(dict(type=neck_type, **cfg), 'mmyolo')
    randomise(ref, every_parameter=True)
    ours = MODELS.build(dict(type=f'mmbackbones.{neck_type}', **cfg))
    ours.load_state_dict(ref.state_dict())  # strict: mmyolo's keys, no converter
    ours.eval(), ref.eval()
    assert ours.out_channels == tuple(int(c * cfg['widen_factor']) for c in cfg['out_channels'])
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    inputs = [_inputs(channels, size) for size in SIZES]
    training = [_run(ours, x) for x in inputs]
    for x, out in zip(inputs, training):
        _assert_close(out, _run(ref, x), atol=1e-5)
        assert [o.shape[1] for o in out] == list(ours.out_channels)

    # mmyolo's deploy form fuses the RepVGG blocks only: the same on ours has mmyolo's keys
    fused = copy.deepcopy(ours)
    for block in fused.modules():
        if isinstance(block, RepVGGBlock):
            block.switch_to_deploy()
    mmyolo_switch_to_deploy(ref)
    assert set(fused.state_dict()) == set(ref.state_dict())
    for x in inputs:
        _assert_close(_run(fused, x), _run(ref, x), atol=1e-4)

    # the neck's own deploy form: RepVGG blocks fused and every BatchNorm folded
    count = _num_modules(ours)
    assert ours.switch_to_deploy() is ours
    assert _num_modules(ours) < count
    assert _num_norms(ours) == 0
    for x, out in zip(inputs, training):
        _assert_close(_run(ours, x), out, atol=1e-4)
        _assert_close(_run(ours, x), _run(ref, x), atol=1e-4)


def _small(neck_type):
    """A small neck of each YOLO PAFPN (no mmyolo needed), randomised, in eval mode."""
    cfg = dict(in_channels=[64, 128, 256], out_channels=[64, 128, 256], deepen_factor=0.33,
               widen_factor=0.25)
    if neck_type in ('YOLOv6RepPAFPN', 'YOLOv6CSPRepPAFPN'):
        cfg['out_channels'] = [32, 64, 128]
    model = MODELS.build(dict(type=f'mmbackbones.{neck_type}', **cfg))
    randomise(model, every_parameter=True)
    return model.eval()


@pytest.mark.parametrize('neck_type', ['YOLOv5PAFPN', 'YOLOv6RepPAFPN', 'YOLOv6CSPRepPAFPN',
                                       'PPYOLOECSPPAFPN'])
def test_deploy_form_computes_the_training_form_and_reloads(neck_type):
    model = _small(neck_type)
    channels = model.input_channels
    inputs = [_inputs(channels, size, seed=1) for size in SIZES]
    training = [_run(model, x) for x in inputs]
    count = _num_modules(model)
    buffer = io.BytesIO()
    torch.save(model, buffer)  # a pickled training-form neck deploys too
    buffer.seek(0)
    deployed = torch.load(buffer, weights_only=False).switch_to_deploy()
    assert _num_modules(deployed) < count
    assert _num_norms(deployed) == 0
    for x, out in zip(inputs, training):
        _assert_close(_run(deployed, x), out, atol=1e-4)
    # a second call changes nothing; training is refused
    state = {k: v.clone() for k, v in deployed.state_dict().items()}
    deployed.switch_to_deploy()
    assert all(torch.equal(state[k], v) for k, v in deployed.state_dict().items())
    with pytest.raises(RuntimeError, match='deploy form'):
        deployed.train()
    # the deployed state dict loads (strictly) into another deployed instance
    other = _small(neck_type).switch_to_deploy()
    other.load_state_dict(deployed.state_dict())
    _assert_close(_run(other, inputs[1]), training[1], atol=1e-4)


@pytest.mark.slow
def test_every_mmyolo_yolov6_and_ppyoloe_neck_dict_pastes():
    """Each neck dict of mmyolo's YOLOv6 and PP-YOLOE configs, with only ``type`` changed,
    builds a neck with mmyolo's state-dict keys and shapes (meta device, no weights)."""
    pytest.importorskip('mmyolo')
    import glob
    import os.path as osp

    from mmengine.config import Config

    from mmbackbones.references import build_openmmlab

    from .helpers import openmmlab_config_dir
    ours_names = {'YOLOv6RepPAFPN', 'YOLOv6CSPRepPAFPN', 'PPYOLOECSPPAFPN'}
    dicts = {}
    for path in sorted(glob.glob(osp.join(openmmlab_config_dir('mmyolo'), 'yolov6', '*.py'))
                       + glob.glob(osp.join(openmmlab_config_dir('mmyolo'), 'ppyoloe', '*.py'))):
        neck = Config.fromfile(path).model.neck.to_dict()
        if neck['type'] in ours_names:
            dicts.setdefault(repr(sorted(neck.items())), (neck, osp.basename(path)))
    assert {neck['type'] for neck, _ in dicts.values()} == ours_names
    for neck, name in dicts.values():
        with torch.device('meta'):
            ref = build_openmmlab(neck, 'mmyolo')
            ours = MODELS.build(dict(neck, type=f'mmbackbones.{neck["type"]}'))
        shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in (ours, ref)]
        assert shapes[0] == shapes[1], name


def test_freeze_all_freezes_every_parameter_and_norm():
    model = MODELS.build(dict(type='mmbackbones.PPYOLOECSPPAFPN', widen_factor=0.25,
                              deepen_factor=0.33, freeze_all=True)).train()
    assert not any(p.requires_grad for p in model.parameters())
    assert not any(m.training for m in model.modules() if isinstance(m, _BatchNorm))
    model = MODELS.build(dict(type='mmbackbones.YOLOv6CSPRepPAFPN', in_channels=[64, 128, 256],
                              out_channels=[32, 64, 128], widen_factor=0.25)).train()
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize('neck_type', ['YOLOv5PAFPN', 'PPYOLOECSPPAFPN'])
def test_maps_that_do_not_halve_are_refused_clearly(neck_type):
    # the levels of a 72x104 image: 9x13, 5x7, 3x4 (mmyolo's necks fail inside torch.cat)
    model = _small(neck_type)
    levels = [torch.rand(1, c, h, w)
              for c, (h, w) in zip(model.input_channels, ((9, 13), (5, 7), (3, 4)))]
    with pytest.raises(ValueError, match='twice the next'):
        _run(model, levels)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='block_cfg'):
        MODELS.build(dict(type='mmbackbones.PPYOLOECSPPAFPN',
                          block_cfg=dict(type='RepVGGBlock')))
    with pytest.raises(TypeError, match='drop_block_cfg'):
        MODELS.build(dict(type='mmbackbones.PPYOLOECSPPAFPN', drop_block_cfg='DropBlock'))
    with pytest.raises(ValueError, match='num_csplayer'):
        MODELS.build(dict(type='mmbackbones.PPYOLOECSPPAFPN', num_csplayer=0))
    with pytest.raises(ValueError, match='out_channels'):
        MODELS.build(dict(type='mmbackbones.PPYOLOECSPPAFPN', out_channels=[256, 512]))
    with pytest.raises(ValueError, match='hidden_ratio'):
        MODELS.build(dict(type='mmbackbones.YOLOv6CSPRepPAFPN', in_channels=[64, 128, 256],
                          out_channels=[32, 64, 128], hidden_ratio=0))
    with pytest.raises(ValueError, match='block_cfg type'):
        MODELS.build(dict(type='mmbackbones.YOLOv6CSPRepPAFPN', in_channels=[64, 128, 256],
                          out_channels=[32, 64, 128], block_cfg=dict(type='Conv')))
