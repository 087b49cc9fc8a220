"""Layer-wise learning-rate decay (mmbackbones.LayerDecayOptimizerConstructor).

Truths: mmdet's and mmseg's ``LearningRateDecayOptimizerConstructor`` on ConvNeXt (group by
group), and the decay formula ``lr = base_lr * rate ** (N - 1 - depth)`` with the depth of each
parameter written out here from its name for ConvNeXt, Swin and ResNet.
"""
import re

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

import mmbackbones

from . import helpers

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope

BASE_LR, BASE_WD, RATE = 2e-4, 0.05, 0.7
CONSTRUCTOR = 'mmbackbones.LayerDecayOptimizerConstructor'


class Detector(nn.Module):
    """What a detector looks like to the constructor: a backbone and other modules."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.neck = nn.Sequential(nn.Conv2d(backbone.out_channels[-1], 8, 1), nn.GroupNorm(2, 8))


def _detector(name, **overrides):
    with torch.device('meta'):
        return Detector(mmbackbones.build_backbone(name, **overrides))


def _groups(constructor_type, model, **paramwise):
    ctor = constructor_type(dict(optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
                            dict(decay_rate=RATE, **paramwise))
    params = []
    ctor.add_params(params, model)
    return params


def _ours():
    from mmbackbones.engine.layer_decay import LayerDecayOptimizerConstructor
    return LayerDecayOptimizerConstructor


def _by_name(groups):
    return {g['group_name']: (sorted(g['param_names']), g['lr'], g['weight_decay'])
            for g in groups}


@pytest.mark.parametrize('library', ['mmdet', 'mmseg'])
# stage_wise with num_layers=6 over 4 stages: what mmseg's ConvNeXt configs set
@pytest.mark.parametrize('decay_type,num_layers', [('layer_wise', 6), ('stage_wise', 4),
                                                  ('stage_wise', 6)])
def test_groups_equal_openmmlab_on_convnext(library, decay_type, num_layers):
    module = pytest.importorskip(f'{library}.engine.optimizers.layer_decay_optimizer_constructor')
    theirs_type = module.LearningRateDecayOptimizerConstructor
    model = _detector('convnext_tiny')
    paramwise = dict(decay_type=decay_type, num_layers=num_layers)
    theirs = _by_name(_groups(theirs_type, model, **paramwise))
    ours = _by_name(_groups(_ours(), model, **paramwise))
    assert sorted(ours) == sorted(theirs)
    for name, (params, lr, wd) in theirs.items():
        assert ours[name][0] == params, name
        assert ours[name][1] == pytest.approx(lr, rel=1e-12), name
        assert ours[name][2] == wd, name


def _resnet_depth(name, depths=(2, 2, 2, 2)):
    match = re.match(r'backbone\.layer(\d)\.(\d+)\.', name)
    if match:
        stage, block = int(match.group(1)) - 1, int(match.group(2))
        return sum(depths[:stage]) + block + 1
    return 0 if name.startswith(('backbone.conv1', 'backbone.bn1')) else None


def _swin_depth(name, depths=(2, 2, 6, 2)):
    if name.startswith('backbone.patch_embed'):
        return 0
    match = re.match(r'backbone\.stages\.(\d)\.blocks\.(\d+)\.', name)
    if match:
        stage, block = int(match.group(1)), int(match.group(2))
        return sum(depths[:stage]) + block + 1
    match = re.match(r'backbone\.stages\.(\d)\.downsample\.', name)
    if match:  # OpenMMLab's stage: the merging after its blocks
        return sum(depths[:int(match.group(1))])
    return None


def _convnext_depth(name):
    """ConvNeXt-T by the ConvNeXt authors' rule (max layer id 6)."""
    match = re.match(r'backbone\.downsample_layers\.(\d)\.', name)
    if match:
        return {0: 0, 1: 2, 2: 3, 3: 6}[int(match.group(1))]
    match = re.match(r'backbone\.stages\.(\d)\.(\d+)\.', name)
    if match:
        stage, block = int(match.group(1)), int(match.group(2))
        return {0: 1, 1: 2, 2: 3 + block // 3, 3: 6}[stage]
    return None


def _stage_depth(name, family):
    if family == 'resnet':
        match = re.match(r'backbone\.layer(\d)\.', name)
        return int(match.group(1)) if match else (0 if _resnet_depth(name) == 0 else None)
    if family == 'swin':
        match = re.match(r'backbone\.stages\.(\d)\.blocks\.', name)
        if match:
            return int(match.group(1)) + 1
        match = re.match(r'backbone\.stages\.(\d)\.downsample\.', name)
        if match:
            return int(match.group(1))  # with the stage before it
        return 0 if name.startswith('backbone.patch_embed') else None
    if name.startswith('backbone.downsample_layers'):
        return 0  # the authors' stage-wise rule
    match = re.match(r'backbone\.stages\.(\d)\.', name)
    return int(match.group(1)) + 1 if match else None


CASES = {  # family: (zoo row, depth from the name, N = top layer + 1 in layer_wise mode)
    'resnet': ('resnet18', _resnet_depth, 10),
    'swin': ('swin_tiny_patch4_window7_224', _swin_depth, 14),
    'convnext': ('convnext_tiny', _convnext_depth, 8),
}


@pytest.mark.parametrize('decay_type', ['layer_wise', 'stage_wise'])
@pytest.mark.parametrize('family', sorted(CASES))
def test_every_parameter_follows_the_formula(family, decay_type):
    row, depth_of, num_layers = CASES[family]
    if decay_type == 'stage_wise':
        num_layers = 6

        def depth_of(name):
            return _stage_depth(name, family)

    model = _detector(row)
    groups = _groups(_ours(), model, decay_type=decay_type)
    seen = {}
    for group in groups:
        for name in group['param_names']:
            seen[name] = (group['lr'], group['weight_decay'])
    params = dict(model.named_parameters())
    assert sorted(seen) == sorted(params)
    for name, param in params.items():
        depth = depth_of(name)
        if depth is None:  # output norms and everything outside the backbone: the top
            assert not re.match(r'backbone\.(layer|stages|downsample_layers|patch_embed)', name)
            depth = num_layers - 1
        lr, wd = seen[name]
        assert lr == pytest.approx(BASE_LR * RATE**(num_layers - 1 - depth), rel=1e-12), name
        no_decay = (param.ndim == 1 or name.endswith('.bias')
                    or name.endswith('relative_position_bias_table'))
        assert wd == (0.0 if no_decay else BASE_WD), name
    if family == 'swin':  # 2-D, yet no decay
        table = 'backbone.stages.0.blocks.0.attn.relative_position_bias_table'
        assert seen[table][1] == 0.0


def test_absolute_position_table_gets_no_weight_decay():
    model = _detector('swin_tiny_patch4_window7_224', use_abs_pos_embed=True)
    groups = _groups(_ours(), model)
    group = next(g for g in groups if 'backbone.absolute_pos_embed' in g['param_names'])
    assert group['weight_decay'] == 0.0 and group['lr_scale'] == pytest.approx(RATE**13)


def test_frozen_parameters_are_left_out():
    model = _detector('resnet18', frozen_stages=1)
    names = {n for g in _groups(_ours(), model) for n in g['param_names']}
    assert 'backbone.conv1.weight' not in names and 'backbone.layer1.0.conv1.weight' not in names
    assert 'backbone.layer2.0.conv1.weight' in names


def test_built_from_a_config_in_the_mmdet_scope():
    """The config route: constructor='mmbackbones.LayerDecayOptimizerConstructor' resolves
    (the module is imported on first use) and the optimizer gets the groups."""
    from mmengine.registry import DefaultScope
    model = Detector(mmbackbones.build_backbone('resnet18'))
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = build_optim_wrapper(model, dict(
            optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD),
            constructor=CONSTRUCTOR, paramwise_cfg=dict(decay_rate=RATE, num_layers=8)))
    groups = wrapper.optimizer.param_groups
    stem = next(g for g in groups if g['group_name'] == 'layer_0_decay')
    assert stem['lr'] == pytest.approx(BASE_LR * RATE**9)
    assert sum(len(g['params']) for g in groups) == len(list(model.parameters()))


@pytest.mark.parametrize('paramwise,match', [
    (dict(decay_rate=0.7, num_layers=12), r'num_layers=12.*is 6.*num_layers=6'),
    (dict(decay_rate=0.7, decay_type='stage_wise', num_layers=3), r'num_layers=3.*>= 4'),
    (dict(decay_rate=0.7, decay_type='block_wise'), r"decay_type='block_wise'.*layer_wise"),
    (dict(decay_rate=1.5), r'decay_rate=1\.5.*\(0, 1\]'),
    (dict(decay_rate=0.7, norm_decay_mult=0.0), r"\['norm_decay_mult'\].*valid keys"),
])
def test_bad_settings_are_refused(paramwise, match):
    model = _detector('convnext_tiny')
    with pytest.raises(ValueError, match=match):
        build_optim_wrapper(model, dict(
            optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD),
            constructor=CONSTRUCTOR, paramwise_cfg=paramwise))
