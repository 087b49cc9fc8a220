"""ResNet, ResNeXt, Res2Net and ResNeSt beyond the registry-wide battery.

Truths are mmdet/mmseg's and timm's implementations (random weights, converted), never our own
recorded outputs.
"""
import math

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmbackbones
from mmbackbones.registry import MODELS
from mmbackbones.weights import convert, detect_source

from . import helpers
from .helpers import feature_mismatch, randomise

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope

TOLERANCE = 1e-4  # max abs difference / reference feature scale
SIZES = ((64, 96), (67, 45))  # the second is odd in both sides


def _ours(type_name, **cfg):
    return MODELS.build(dict(type=f'mmbackbones.{type_name}', **cfg))


def _assert_same_features(ours, reference_forward, sizes=SIZES):
    ours.eval()
    for size in sizes:
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            errors = feature_mismatch(ours(x), list(reference_forward(x)))
        assert max(errors) <= TOLERANCE, f'{size}: relative errors per level {errors}'


# ------------------------------------------------------------------------ mmdet / mmseg
MMDET_CASES = {
    # id: (mmdet class, mmdet kwargs, our class, our kwargs)
    'resnet18': ('ResNet', dict(depth=18), 'ResNet', dict(depth=18)),
    'resnet50-caffe': ('ResNet', dict(depth=50, style='caffe'),
                       'ResNet', dict(depth=50, style='caffe')),
    'resnet50-gn': ('ResNet', dict(depth=50, norm_cfg=dict(type='GN', num_groups=32)),
                    'ResNet', dict(depth=50, norm_cfg=dict(type='GN', num_groups=32))),
    'resnet50v1d': ('ResNetV1d', dict(depth=50),
                    'ResNet', dict(depth=50, stem_type='deep', avg_down=True)),
    'resnext50-32x4d': ('ResNeXt', dict(depth=50, groups=32, base_width=4),
                        'ResNeXt', dict(depth=50, groups=32, base_width=4)),
    'res2net50-v1d-26w4s': ('Res2Net', dict(depth=50, scales=4, base_width=26),
                            'Res2Net', dict(depth=50, scales=4, base_width=26, stem_type='deep',
                                            avg_down=True, split_pool='strided')),
    'resnest50': ('ResNeSt', dict(depth=50, stem_channels=64, radix=2, reduction_factor=4,
                                  avg_down_stride=True),
                  'ResNeSt', dict(depth=50)),
}


def _mmdet_backbone(name, **kwargs):
    pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')
    import mmdet.models.backbones as backbones
    torch.manual_seed(0)
    model = getattr(backbones, name)(**kwargs)
    randomise(model)
    model.eval()  # mmdet's train() returns None
    return model


@pytest.mark.parametrize('case', sorted(MMDET_CASES))
def test_features_equal_mmdet_after_conversion(case):
    mmdet_name, mmdet_kwargs, our_name, our_kwargs = MMDET_CASES[case]
    reference = _mmdet_backbone(mmdet_name, **mmdet_kwargs)
    ours = _ours(our_name, **our_kwargs)
    state = convert(reference.state_dict(), ours, 'mmdet')
    ours.load_state_dict(state, strict=True)
    _assert_same_features(ours, reference)


def test_res2net_split_pool_is_what_separates_mmdet_from_timm():
    """mmdet skips the stride-1 pool of layer1's first block (our default); timm does not."""
    reference = _mmdet_backbone('Res2Net', depth=50)
    state = convert(reference.state_dict(), _ours('Res2Net', depth=50), 'mmdet')
    timm_like = _ours('Res2Net', depth=50, split_pool='always').eval()
    timm_like.load_state_dict(state)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        errors = feature_mismatch(timm_like(x), reference(x))
    assert errors[0] > 1e-3  # so split_pool='strided' is needed for mmdet's checkpoints


def test_mmdet_deep_stem_is_detected_and_detector_checkpoints_load(tmp_path):
    reference = _mmdet_backbone('ResNetV1d', depth=50)
    ours = _ours('ResNet', depth=50, stem_type='deep', avg_down=True,
                 init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'det.pth')))
    assert detect_source(reference.state_dict(), ours) == 'mmdet'
    # A detector checkpoint: backbone under 'backbone.', plus neck weights, in 'state_dict'.
    state = {f'backbone.{k}': v for k, v in reference.state_dict().items()}
    state['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    torch.save({'meta': {}, 'state_dict': state}, tmp_path / 'det.pth')
    ours.init_weights()
    _assert_same_features(ours, reference, sizes=SIZES[:1])


def test_mmseg_dilated_resnet_v1c_d8():
    pytest.importorskip('mmcv.ops', reason='mmseg needs mmcv with compiled ops')
    from mmseg.models.backbones import ResNetV1c
    torch.manual_seed(0)
    reference = ResNetV1c(depth=50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                          contract_dilation=True)
    randomise(reference)
    reference.eval()  # (mmseg's train() returns None)
    ours = _ours('ResNet', depth=50, stem_type='deep', strides=(1, 2, 1, 1),
                 dilations=(1, 1, 2, 4), contract_dilation=True)
    ours.load_state_dict(convert(reference.state_dict(), ours, 'mmseg'), strict=True)
    _assert_same_features(ours, reference)


@pytest.mark.slow
def test_mmseg_dilated_resnest_d8():
    pytest.importorskip('mmcv.ops', reason='mmseg needs mmcv with compiled ops')
    from mmseg.models.backbones import ResNeSt
    torch.manual_seed(0)
    reference = ResNeSt(depth=50, stem_channels=64, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                        contract_dilation=True)
    randomise(reference)
    reference.eval()
    ours = _ours('ResNeSt', depth=50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                 contract_dilation=True)
    ours.load_state_dict(convert(reference.state_dict(), ours, 'mmseg'), strict=True)
    _assert_same_features(ours, reference)


# ------------------------------------------------------------------------------ dilation
@pytest.mark.parametrize('depth', [18, 50])
def test_d8_reports_real_output_strides_and_matches_timm(depth):
    import timm
    # timm contracts the first dilation of a stage and dilates both convs of a basic block
    ours = _ours('ResNet', depth=depth, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                 contract_dilation=True, dilate_basic_conv2=True)
    assert ours.out_strides == (4, 8, 8, 8)
    torch.manual_seed(0)
    reference = timm.create_model(f'resnet{depth}', pretrained=False, num_classes=0,
                                  output_stride=8)
    randomise(reference)
    reference.eval()
    ours.load_state_dict(convert(reference.state_dict(), ours, 'timm'), strict=True)
    h, w = SIZES[1]
    with torch.no_grad():
        feats = ours.eval()(torch.randn(1, 3, h, w))
    for feat, stride in zip(feats, ours.out_strides):
        assert feat.shape[-2:] == (math.ceil(h / stride), math.ceil(w / stride))
    _assert_same_features(ours, lambda x: reference.forward_intermediates(
        x, indices=[1, 2, 3, 4], intermediates_only=True))


def test_d16_strides():
    ours = _ours('ResNet', depth=18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
                 out_indices=(1, 3))
    assert ours.out_strides == (8, 16) and ours.level_strides == (4, 8, 16, 16)


# ---------------------------------------------------------------------------- style
def test_caffe_style_moves_the_stride_to_the_first_1x1_conv():
    pytorch = _ours('ResNet', depth=50)
    caffe = _ours('ResNet', depth=50, style='caffe')
    for model, conv1_stride, conv2_stride in ((pytorch, 1, 2), (caffe, 2, 1)):
        block = model.layer2[0]
        assert block.conv1.stride == (conv1_stride, ) * 2
        assert block.conv2.stride == (conv2_stride, ) * 2
        assert block.downsample[0].stride == (2, 2)
    assert caffe.out_strides == pytorch.out_strides
    caffe.load_state_dict(pytorch.state_dict())  # same parameters, different function
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = pytorch.eval()(x), caffe.eval()(x)
    assert all(p.shape == q.shape for p, q in zip(a, b))
    assert not torch.allclose(a[1], b[1])


# ------------------------------------------------------------------- ResNeSt, batch of one
def _timm_resnest14d():
    import timm
    torch.manual_seed(0)
    reference = timm.create_model('resnest14d', pretrained=False, num_classes=0)
    randomise(reference)
    return reference


def _attention_norms(model):
    return [m.conv2.bn1 for m in model.modules() if hasattr(m, 'avd_last')]


def test_resnest_trains_with_batch_of_one():
    reference = _timm_resnest14d()
    ours = mmbackbones.build_backbone('resnest14d')
    ours.load_state_dict(convert(reference.state_dict(), ours, 'timm'))
    ours.train()
    attention_stats = [(n.running_mean.clone(), n.running_var.clone())
                       for n in _attention_norms(ours)]
    stem_mean = ours.bn1.running_mean.clone()
    x = torch.randn(1, 3, 64, 80)
    feats = ours(x)
    sum(f.mean() for f in feats).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in ours.parameters())
    # A single pooled value per channel carries no batch statistics: those stay as they were,
    # while every other norm trains as usual.
    for norm, (mean, var) in zip(_attention_norms(ours), attention_stats):
        assert torch.equal(norm.running_mean, mean) and torch.equal(norm.running_var, var)
    assert not torch.equal(ours.bn1.running_mean, stem_mean)
    # Truth: timm in train mode with only the attention norms switched to eval mode.
    for norm in _attention_norms(reference):
        norm.eval()
    with torch.no_grad():
        expected = reference.forward_intermediates(x, indices=[1, 2, 3, 4],
                                                   intermediates_only=True)
    assert max(feature_mismatch([f.detach() for f in feats], expected)) <= TOLERANCE


def test_resnest_batch_of_two_trains_exactly_like_timm():
    reference = _timm_resnest14d().train()
    ours = mmbackbones.build_backbone('resnest14d')
    ours.load_state_dict(convert(reference.state_dict(), ours, 'timm'))
    ours.train()
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        errors = feature_mismatch(ours(x), reference.forward_intermediates(
            x, indices=[1, 2, 3, 4], intermediates_only=True))
    assert max(errors) <= TOLERANCE
    for a, b in zip(_attention_norms(ours), _attention_norms(reference)):
        torch.testing.assert_close(a.running_var, b.running_var)


# -------------------------------------------------------------------- other behaviour
def test_with_cp_keeps_batchnorm_statistics_of_a_single_pass():
    torch.manual_seed(0)
    plain = _ours('ResNet', depth=18).train()
    checkpointed = _ours('ResNet', depth=18, with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    for model in (plain, checkpointed):
        sum(f.mean() for f in model(x)).backward()
    for (name, a), b in zip(plain.named_buffers(), checkpointed.buffers()):
        torch.testing.assert_close(a, b, msg=name)


def test_default_init_zeroes_last_norm_of_every_block():
    model = _ours('ResNet', depth=50)
    model.init_weights()
    blocks = [b for i in range(4) for b in getattr(model, f'layer{i + 1}')]
    assert all(torch.count_nonzero(b.bn3.weight) == 0 for b in blocks)
    assert torch.all(model.bn1.weight == 1)
    off = _ours('ResNet', depth=18, zero_init_residual=False)
    off.init_weights()
    assert torch.all(off.layer1[0].bn2.weight == 1)


def test_pretrained_timm_file(tmp_path):
    import timm
    torch.manual_seed(0)
    reference = timm.create_model('resnet18', pretrained=False, num_classes=10)
    randomise(reference)
    torch.save(reference.state_dict(), tmp_path / 'r18.pth')  # with its fc head
    ours = mmbackbones.build_backbone(
        'resnet18', init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'r18.pth')))
    ours.init_weights()
    reference.eval()
    _assert_same_features(ours, lambda x: reference.forward_intermediates(
        x, indices=[1, 2, 3, 4], intermediates_only=True), sizes=SIZES[:1])


def test_syncbn_and_other_norms_build_through_mmcv():
    pytest.importorskip('mmcv.cnn')
    model = _ours('ResNeSt', depth=14, norm_cfg=dict(type='SyncBN'))
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    with torch.no_grad():  # SyncBN runs as BN in eval mode, without a process group
        model.eval()(torch.randn(1, 3, 64, 64))
    frozen = _ours('ResNet', depth=18, norm_cfg=dict(type='BN', requires_grad=False))
    assert not any(p.requires_grad for p in frozen.bn1.parameters())
    gelu = _ours('ResNet', depth=18, act_cfg=dict(type='GELU'))
    assert isinstance(gelu.layer1[0].act1, nn.GELU)


def test_layer_depth_numbers_stem_and_blocks_in_forward_order():
    with torch.device('meta'):
        model = _ours('ResNet', depth=50)
    num_layers = 16 + 2
    assert model.get_layer_depth('conv1.weight') == (0, num_layers)
    assert model.get_layer_depth('backbone.bn1.bias', prefix='backbone.') == (0, num_layers)
    assert model.get_layer_depth('layer1.0.conv1.weight') == (1, num_layers)
    assert model.get_layer_depth('layer2.0.downsample.0.weight') == (4, num_layers)
    assert model.get_layer_depth('layer4.2.bn3.weight') == (16, num_layers)


def test_drop_path_is_linear_over_blocks():
    model = _ours('ResNet', depth=18, drop_path_rate=0.3)
    rates = [getattr(b.drop_path, 'drop_prob', 0.0) for i in range(4)
             for b in getattr(model, f'layer{i + 1}')]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.3)
    assert rates == sorted(rates)


# -------------------------------------------------------------------------------- errors
@pytest.mark.parametrize('type_name,kwargs,argument', [
    ('ResNet', dict(depth=42), 'depth'),
    ('ResNeXt', dict(depth=18), 'depth'),
    ('Res2Net', dict(depth=34), 'depth'),
    ('ResNeSt', dict(depth=51), 'depth'),
    ('ResNet', dict(style='tf'), 'style'),
    ('ResNet', dict(stem_type='wide'), 'stem_type'),
    ('ResNet', dict(strides=(1, 2, 2)), 'strides'),
    ('ResNet', dict(dilations=(1, 1, 0, 1)), 'dilations'),
    ('ResNet', dict(depth=18, groups=32, base_width=4), 'groups'),
    ('ResNet', dict(out_indices=(4, )), 'out_indices'),
    ('ResNet', dict(frozen_stages=5), 'frozen_stages'),
    ('ResNet', dict(num_stages=5), 'num_stages'),
    ('ResNet', dict(num_stages=3), 'strides'),
    ('ResNet', dict(multi_grid=(1, 2)), 'multi_grid'),
    ('ResNet', dict(dcn=dict(type='DCN'), stage_with_dcn=(True, True, True)), 'stage_with_dcn'),
    ('ResNet', dict(stage_with_dcn=(False, True, True, True)), 'stage_with_dcn'),
    ('ResNet', dict(dcn=dict(type='DCN', fallback_on_stride=True),
                    stage_with_dcn=(False, True, True, True)), 'fallback_on_stride'),
    ('ResNet', dict(dcn=dict(type='DCN'), conv_cfg=dict(type='ConvWS'),
                    stage_with_dcn=(False, True, True, True)), 'conv_cfg'),
    ('ResNet', dict(depth=18, dcn=dict(type='DCN'), stage_with_dcn=(False, True, True, True)),
     'dcn'),
    ('ResNet', dict(plugins=[dict(cfg=dict(type='ContextBlock', ratio=0.25),
                                  position='after_conv4')]), 'position'),
    ('ResNet', dict(plugins=[dict(cfg=dict(type='ContextBlock', ratio=0.25),
                                  position='after_conv3', stages=(True, ))]), 'stages'),
    ('Res2Net', dict(plugins=[dict(cfg=dict(type='ContextBlock', ratio=0.25),
                                   position='after_conv3')]), 'plugins'),
    ('ResNeSt', dict(dcn=dict(type='DCN'), stage_with_dcn=(False, True, True, True)), 'dcn'),
    ('ResNet', dict(deep_stem=True, stem_type='plain'), 'deep_stem'),
    ('ResNetV1c', dict(deep_stem=False), 'deep_stem'),
    ('ResNetV1d', dict(avg_down=False), 'avg_down'),
    ('ResNet', dict(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth')),
     'pretrained'),
    ('Res2Net', dict(scales=1), 'scales'),
    ('Res2Net', dict(split_pool='never'), 'split_pool'),
    ('ResNeSt', dict(radix=0), 'radix'),
])
def test_invalid_arguments_name_argument_and_valid_values(type_name, kwargs, argument):
    if 'dcn' in kwargs or 'plugins' in kwargs:
        pytest.importorskip('mmcv.ops')
    with torch.device('meta'), pytest.raises(ValueError, match=argument) as info:
        _ours(type_name, **kwargs)
    if argument in ('depth', 'style', 'stem_type', 'split_pool'):
        assert 'valid values' in str(info.value)


# ------------------------------------------------ mmdet's dcn / plugins / conv_cfg, synthetic
_DCN_STAGES = dict(stage_with_dcn=(False, True, True, True))
_ALL_POSITIONS = [dict(cfg=dict(type='ContextBlock', ratio=0.25), position='after_conv1',
                       stages=(True, False, False, False)),
                  dict(cfg=dict(type='ContextBlock', ratio=0.25), position='after_conv2',
                       stages=(False, True, False, False)),
                  dict(cfg=dict(type='ContextBlock', ratio=0.25), position='after_conv3',
                       stages=(False, False, True, True))]
SYNTHETIC_CASES = {
    'dcn-v1': dict(dcn=dict(type='DCN', deform_groups=1, fallback_on_stride=False),
                   **_DCN_STAGES),
    'dcn-v2': dict(dcn=dict(type='DCNv2', deform_groups=2, fallback_on_stride=False),
                   **_DCN_STAGES),
    'dcn-v2-resnext': dict(type='ResNeXt', groups=8, base_width=4,
                           dcn=dict(type='DCNv2', deform_groups=1), **_DCN_STAGES),
    'context-block-every-position': dict(plugins=_ALL_POSITIONS),
    'nonlocal': dict(plugins=[dict(cfg=dict(type='NonLocal2d', reduction=4),
                                   position='after_conv2', stages=(False, False, True, False))]),
    'generalized-attention': dict(plugins=[dict(
        cfg=dict(type='GeneralizedAttention', spatial_range=-1, num_heads=8,
                 attention_type='1111', kv_stride=2),
        position='after_conv2', stages=(False, False, True, True))]),
    'two-plugins-chained': dict(plugins=[
        dict(cfg=dict(type='ContextBlock', ratio=0.25, postfix=1), position='after_conv3'),
        dict(cfg=dict(type='ContextBlock', ratio=0.0625, postfix=2), position='after_conv3')]),
    'convws-gn': dict(conv_cfg=dict(type='ConvWS'),
                      norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)),
    'res2net-dcn-v2': dict(type='Res2Net', dcn=dict(type='DCNv2', deform_groups=1),
                           **_DCN_STAGES),
}


@pytest.mark.parametrize('case', sorted(SYNTHETIC_CASES))
def test_dcn_plugins_conv_cfg_equal_mmdet(case):
    """mmdet's ResNet with every parameter random (offsets included, so the deformable path is
    exercised), weights converted, same outputs."""
    pytest.importorskip('mmcv.ops', reason='deformable convs need mmcv with compiled ops')
    from .helpers import compare_with_openmmlab
    cfg = dict(type='ResNet', depth=50, norm_eval=False)
    cfg.update(SYNTHETIC_CASES[case])
    # mmcv's DCN v1 refuses maps smaller than its kernel (layer4 is 2x2 at 64x64)
    size = (96, 96) if case == 'dcn-v1' else (64, 64)
    ours, theirs = compare_with_openmmlab(cfg, 'mmdet', size=size)
    if 'dcn' in cfg:  # the deformable conv sits where mmdet puts it, and only there
        def conv(block):
            return block.convs[0] if hasattr(block, 'convs') else block.conv2
        for stage in ('layer1', 'layer2'):
            ours_conv, theirs_conv = conv(getattr(ours, stage)[0]), conv(getattr(theirs, stage)[0])
            assert type(ours_conv) is type(theirs_conv)
        assert hasattr(conv(ours.layer2[0]), 'conv_offset')
        assert not hasattr(conv(ours.layer1[0]), 'conv_offset')


# ---------------------------------------------------------- stages no output needs
def test_stages_no_output_needs_are_not_built_and_every_parameter_trains():
    model = _ours('ResNet', depth=18, out_indices=(0, 1, 2)).train()
    assert not hasattr(model, 'layer4')
    assert model.level_channels == (64, 128, 256, 512)  # the level table stays complete
    feats = model(torch.randn(2, 3, 64, 64))
    sum(f.sum() for f in feats).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_num_stages_3_parameter_count_equals_mmdet():
    pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')
    from mmdet.models.backbones import ResNet
    kwargs = dict(depth=50, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1),
                  out_indices=(2, ))
    ours = _ours('ResNet', **kwargs)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in ResNet(**kwargs).parameters())


# --------------------------------------------------------------- initialisation
def _init_summary(model, last_norms, offsets):
    return dict(last_norm_zero=[bool(torch.all(n.weight == 0)) for n in last_norms],
                stem_norm_one=bool(torch.all(model.state_dict()[
                    'bn1.weight' if 'bn1.weight' in model.state_dict() else 'stem.7.weight'] == 1)),
                offsets_zero=[bool(torch.all(o.weight == 0)) for o in offsets])


INIT_CFGS = [
    None,
    [dict(type='Kaiming', layer='Conv2d'),
     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])],
    dict(type='Normal', layer='Conv2d', std=0.01),
]
INIT_NETWORKS = [('ResNet', 'DCNv2'), ('ResNet', 'DCN'), ('ResNeXt', 'DCNv2')]


def _init_cases():
    """Every init_cfg with every network; the default run takes the diagonal (each init_cfg
    once, each network once), the other six -m slow."""
    return [pytest.param(cfg, net, dcn, id=f'{net}-{dcn}-init_cfg{i}',
                         marks=() if i == j else pytest.mark.slow)
            for i, cfg in enumerate(INIT_CFGS) for j, (net, dcn) in enumerate(INIT_NETWORKS)]


@pytest.mark.parametrize('init_cfg,type_name,dcn_type', _init_cases())
def test_init_follows_mmdet(init_cfg, type_name, dcn_type):
    """Which norms start at zero (zero_init_residual), which at one, whether deformable offsets
    and the non-local block's output conv start at zero, after init_weights() with the same
    init_cfg as mmdet's (mmcv's DCN v1 has no init_weights: mmdet's Kaiming reaches its
    offsets; DCNv2 and NonLocal2d re-initialise themselves afterwards)."""
    pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')
    import mmdet.models.backbones as mb
    kwargs = dict(depth=50, init_cfg=init_cfg, dcn=dict(type=dcn_type, deform_groups=1),
                  stage_with_dcn=(False, True, True, True),
                  plugins=[dict(cfg=dict(type='NonLocal2d'), position='after_conv3',
                                stages=(False, False, False, True))])
    if type_name == 'ResNeXt':
        kwargs.update(groups=32, base_width=4)
    theirs = getattr(mb, type_name)(**kwargs)
    ours = _ours(type_name, **kwargs)
    for model in (theirs, ours):
        with torch.no_grad():  # so that init has to set what it claims
            for p in model.parameters():
                p.fill_(0.5)
        model.init_weights()
    summaries = []
    for model, norm3 in ((theirs, 'norm3'), (ours, 'bn3')):
        blocks = [b for i in range(4) for b in getattr(model, f'layer{i + 1}')]
        offsets = [b.conv2.conv_offset for b in blocks if hasattr(b.conv2, 'conv_offset')]
        assert offsets
        summary = _init_summary(model, [getattr(b, norm3) for b in blocks], offsets)
        summary['nonlocal_out_zero'] = [bool(torch.all(b.nonlocal_block.conv_out.conv.weight == 0))
                                        for b in model.layer4]
        summaries.append(summary)
    assert summaries[0] == summaries[1]
    conv_std = [m.layer3[1].conv1.weight.std().item() for m in (theirs, ours)]
    assert conv_std[1] == pytest.approx(conv_std[0], rel=0.1)


def test_pretrained_string_is_init_cfg_pretrained():
    model = _ours('ResNet', depth=18, pretrained='checkpoints/r18.pth')
    assert model.init_cfg == dict(type='Pretrained', checkpoint='checkpoints/r18.pth')
    assert _ours('ResNet', depth=18, pretrained=None).init_cfg is None


def test_resnest_base_width_is_unused_with_one_group_as_mmdet():
    pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')
    from mmdet.models.backbones import ResNeSt
    for kwargs in (dict(base_width=4), dict(base_width=64), dict(groups=2, base_width=40)):
        theirs = ResNeSt(depth=50, stem_channels=64, **kwargs)
        ours = _ours('ResNeSt', depth=50, **kwargs)
        assert sum(p.numel() for p in ours.parameters()) == sum(
            p.numel() for p in theirs.parameters()), kwargs


def test_norm_eval_default_follows_the_scope():
    from mmengine.registry import DefaultScope
    for scope, expected in (('mmdet', True), ('mmseg', False)):
        with DefaultScope.overwrite_default_scope(scope):
            assert _ours('ResNet', depth=18).norm_eval is expected
    assert _ours('ResNet', depth=18, norm_eval=True).norm_eval is True
