"""RegNet beyond the contract: the design rule against the paper's numbers, mmdet's arch forms,
refusals, layout detection and the torchvision sizes that are not the pycls network.

The battery (tests/test_every_variant.py) checks every zoo row against timm, torchvision, mmdet
and mmpretrain; this module checks what the rows cannot show.
"""
import pytest
import torch

import mmbackbones
from mmbackbones.models.backbones import RegNet
from mmbackbones.weights import detect_source

from . import helpers

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope

# Parameters in millions with the 1000-class classifier, as the paper's Figs. 15 and 16 (and
# pycls's model zoo) list them for every RegNetX and RegNetY size.
PAPER_PARAMS = {
    'regnetx_200mf': 2.7, 'regnetx_400mf': 5.2, 'regnetx_600mf': 6.2, 'regnetx_800mf': 7.3,
    'regnetx_1.6gf': 9.2, 'regnetx_3.2gf': 15.3, 'regnetx_4.0gf': 22.1, 'regnetx_6.4gf': 26.2,
    'regnetx_8.0gf': 39.6, 'regnetx_12gf': 46.1, 'regnetx_16gf': 54.3, 'regnetx_32gf': 107.8,
    'regnety_200mf': 3.2, 'regnety_400mf': 4.3, 'regnety_600mf': 6.1, 'regnety_800mf': 6.3,
    'regnety_1.6gf': 11.2, 'regnety_3.2gf': 19.4, 'regnety_4.0gf': 20.6, 'regnety_6.4gf': 30.6,
    'regnety_8.0gf': 39.2, 'regnety_12gf': 51.8, 'regnety_16gf': 83.6, 'regnety_32gf': 145.0,
}


def test_every_pycls_size_has_the_papers_parameter_count():
    assert set(PAPER_PARAMS) == set(RegNet.arch_settings)
    for arch, millions in PAPER_PARAMS.items():
        with torch.device('meta'):
            model = RegNet(arch=arch)
        classifier = model.level_channels[-1] * 1000 + 1000
        total = sum(p.numel() for p in model.parameters()) + classifier
        assert round(total / 1e6, 1) == millions, arch


def test_mmdet_docstring_example_and_the_arch_dict_form():
    """mmdet's RegNet docstring: RegNetX-3.2GF from its arch dict, a 32x32 input."""
    arch = dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, bot_mul=1.0)
    model = RegNet(arch=arch).eval()
    with torch.no_grad():
        shapes = [tuple(f.shape) for f in model(torch.rand(1, 3, 32, 32))]
    assert shapes == [(1, 96, 8, 8), (1, 192, 4, 4), (1, 432, 2, 2), (1, 1008, 1, 1)]
    named = RegNet(arch='regnetx_3.2gf')
    assert named.stage_widths == model.stage_widths and named.stage_depths == model.stage_depths
    assert sum(model.stage_depths) == 25 and model.group_widths == (48, 48, 48, 48)


def test_regnety_squeezes_to_a_quarter_of_the_block_input():
    model = RegNet(arch='regnety_400mf')
    first, second = model.layer2[0], model.layer2[1]
    assert (first.conv1.in_channels, first.se.conv_reduce.out_channels) == (48, 12)
    assert (second.conv1.in_channels, second.se.conv_reduce.out_channels) == (104, 26)
    assert RegNet(arch='regnetx_400mf').layer2[0].se is None


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='regnetx_3gf'), r"arch='regnetx_3gf' of RegNet; valid values are .*regnetx_3\.2gf"),
    (dict(arch=dict(w0=88, wa=26.31, wm=2.25, depth=25)), r"lacks \['group_w'\]"),
    (dict(arch=dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, se=0.25)),
     r"unknown keys \['se'\].*se_ratio"),
    (dict(arch=dict(w0=90, wa=26.31, wm=2.25, group_w=48, depth=25)), r'multiple of 8'),
    (dict(arch='regnetx_3.2gf', deep_stem=True), r'deep_stem=True.*valid values: False'),
    (dict(arch='regnetx_3.2gf', base_channels=64), r'base_channels=64.*valid values: 32'),
    (dict(arch='regnetx_3.2gf', strides=(2, 2, 2)), r'strides=\(2, 2, 2\).*4 ints'),
    (dict(arch='regnetx_3.2gf', style='tf'), r"style='tf'.*caffe"),
    (dict(arch='regnetx_3.2gf', stage_with_dcn=(False, True, True, True)), r'needs dcn'),
    (dict(arch=dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, se_ratio=1.5)),
     r'se_ratio=1\.5'),
])
def test_bad_arguments_are_refused_with_the_valid_values(kwargs, match):
    with torch.device('meta'), pytest.raises(ValueError, match=match):
        RegNet(**kwargs)


def test_layouts_are_detected():
    torchvision = pytest.importorskip('torchvision')
    with torch.device('meta'):
        ours = mmbackbones.build_backbone('regnety_004')
    reference = torchvision.models.get_model('regnet_y_400mf', weights=None)
    assert detect_source(reference.state_dict(), ours) == 'torchvision'
    assert detect_source(ours.state_dict(), ours) == 'mmdet'  # mmdet's keys are ours
    timm = pytest.importorskip('timm')
    with torch.device('meta'):
        reference = timm.create_model('regnety_004', pretrained=False)
    assert detect_source(reference.state_dict(), ours) == 'timm'


@pytest.mark.parametrize('row,torchvision_name', [
    ('regnetx_004', 'regnet_x_400mf'), ('regnety_008', 'regnet_y_800mf'),
    ('regnety_080', 'regnet_y_8gf')])
def test_torchvision_sizes_that_round_differently_are_not_listed(row, torchvision_name):
    """torchvision rounds stage widths to the group width its own way (module docstring):
    these three are other networks than pycls's, so their rows do not name them."""
    torchvision = pytest.importorskip('torchvision')
    variant = mmbackbones.get_variant(row)
    assert 'torchvision' not in variant.refs
    reference = torchvision.models.get_model(torchvision_name, weights=None)
    widths = [stage[0].f.c[0].out_channels for stage in reference.trunk_output]
    with torch.device('meta'):
        ours = mmbackbones.build_backbone(row)
    assert widths != list(ours.level_channels)


@pytest.mark.parametrize('backbone', [
    # the arguments mmdet's RegNet takes from ResNet, all at once, on a small RegNetX
    pytest.param(dict(type='RegNet', arch='regnetx_400mf', style='caffe', avg_down=True,
                      strides=(2, 2, 2, 1), dilations=(1, 1, 1, 2), frozen_stages=2,
                      out_indices=(1, 2, 3),
                      plugins=[dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
                                    stages=(False, True, True, True), position='after_conv3')]),
                 id='caffe-avgdown-dilated-frozen-gcb'),
    pytest.param('regnet/mask-rcnn_regnetx-3.2GF-mdconv-c3-c5_fpn_1x_coco.py',
                 id='mmdet-mdconv-c3-c5', marks=pytest.mark.slow),
])
def test_mmdet_dicts_build_and_compute_the_same_network(backbone):
    """An mmdet RegNet dict, pasted with only ``type`` changed: same parameters, frozen
    parameters, BatchNorm modes, keys and outputs (``helpers.compare_with_openmmlab``)."""
    pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')
    pytest.importorskip('mmdet')
    from .helpers import compare_with_openmmlab, openmmlab_config_dir
    if isinstance(backbone, str):
        import os.path as osp
        from mmengine.config import Config
        backbone = Config.fromfile(osp.join(openmmlab_config_dir('mmdet'), backbone))
        backbone = dict(backbone.model.backbone.to_dict(), init_cfg=None)
    compare_with_openmmlab(backbone, 'mmdet')
