"""ConvNeXt beyond the registry-wide battery: the official checkpoint layout, mmpretrain's
argument meanings (frozen_stages, gap_before_final_norm, linear_pw_conv, get_layer_depth),
the norms, and refusals."""
import re

import pytest
import torch
import torch.nn.functional as F

import mmbackbones
from mmbackbones.references import build_reference
from mmbackbones.weights import convert, detect_source

from . import helpers
from .helpers import feature_mismatch, randomise

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope


def _official_from_torchvision(state_dict):
    """torchvision's ConvNeXt keys -> facebookresearch/ConvNeXt's (models/convnext.py):
    ``downsample_layers.{i}.{0,1}``, ``stages.{i}.{j}.{dwconv,norm,pwconv1,pwconv2,gamma}``,
    the final ``norm`` and ``head``."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith('classifier.'):
            out[key.replace('classifier.0.', 'norm.').replace('classifier.2.', 'head.')] = value
            continue
        index, rest = re.match(r'features\.(\d+)\.(.*)', key).groups()
        index = int(index)
        if index % 2 == 0:
            out[f'downsample_layers.{index // 2}.{rest}'] = value
            continue
        block, rest = rest.split('.', 1)
        if rest == 'layer_scale':
            rest, value = 'gamma', value.flatten()
        else:
            layer, param = re.match(r'block\.(\d)\.(\w+)', rest).groups()
            rest = {'0': 'dwconv', '2': 'norm', '3': 'pwconv1', '5': 'pwconv2'}[layer] + '.' + param
        out[f'stages.{index // 2}.{block}.{rest}'] = value
    return out


@pytest.mark.slow  # ConvNeXt-T twice; the default run keeps the V2 round trip below
def test_official_layout_gives_the_reference_features():
    ref = build_reference('convnext_tiny', 'torchvision')
    randomise(ref.model)
    official = _official_from_torchvision(ref.model.state_dict())
    model = mmbackbones.build_backbone('convnext_tiny').eval()
    assert detect_source(official, model) == 'official'
    missing, unexpected = model.load_state_dict(convert(official, model, 'official'), strict=False)
    assert not unexpected and sorted(missing) == [f'norm{i}.{p}' for i in range(3)
                                                  for p in ('bias', 'weight')]
    x = torch.rand(1, 3, 96, 160)
    with torch.no_grad():
        assert max(feature_mismatch(model(x), ref.levels(x))) <= 1e-5


def test_official_v2_layout_round_trip():
    """ConvNeXt V2's official keys (GRN as ``grn.gamma`` / ``grn.beta`` of shape (1, 1, 1, C),
    no layer scale) convert back onto the model they came from."""
    model = mmbackbones.build_backbone('convnextv2_atto', out_indices=(3, ))
    randomise(model, every_parameter=True)
    ours = model.state_dict()
    official = {}
    for key, value in ours.items():
        key = key.replace('depthwise_conv', 'dwconv').replace('pointwise_conv', 'pwconv')
        if '.grn.' in key:
            value = value.reshape(1, 1, 1, -1)
        official[key.replace('norm3.', 'norm.')] = value
    official['head.weight'] = torch.zeros(10, 320)
    assert detect_source(official, model) == 'official'
    back = convert(official, model, 'official')
    assert sorted(back) == sorted(ours)
    assert all(torch.equal(back[k], ours[k]) for k in ours)


def test_pointwise_convs_and_linears_compute_the_same():
    """linear_pw_conv=False (1x1 convs, timm's conv_mlp) and True (linears) are one function:
    mmpretrain checkpoints of either load into either."""
    conv = mmbackbones.build_backbone('convnextv2_atto', linear_pw_conv=False).eval()
    randomise(conv, every_parameter=True)
    linear = mmbackbones.build_backbone('convnextv2_atto').eval()
    state = conv.state_dict()
    assert state['stages.0.0.pointwise_conv1.weight'].ndim == 4
    linear.load_state_dict(convert(state, linear, 'mmpretrain'))
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert max(feature_mismatch(linear(x), conv(x))) <= 1e-5


def test_layer_norm_and_grn_follow_their_definitions():
    model = mmbackbones.build_backbone('convnextv2_atto', out_indices=(0, ))
    norm = model.downsample_layers[1][0]
    randomise(model, every_parameter=True)
    x = torch.randn(2, 40, 5, 7)
    mean = x.mean(1, keepdim=True)
    var = x.var(1, keepdim=True, unbiased=False)
    expected = ((x - mean) / torch.sqrt(var + 1e-6) * norm.weight.view(-1, 1, 1)
                + norm.bias.view(-1, 1, 1))
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)
    grn = model.stages[0][0].grn  # channel-last (N, H, W, C)
    y = torch.randn(2, 5, 7, 160)
    gx = y.pow(2).sum((1, 2), keepdim=True).sqrt()
    nx = gx / (gx.mean(-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(grn(y), grn.gamma * (y * nx) + grn.beta + y)


def test_gap_before_final_norm_is_mmpretrains_classification_output():
    model = mmbackbones.MODELS.build(dict(type='mmbackbones.ConvNeXt', arch='atto')).eval()
    assert model.out_indices == (3, ) and model.gap_before_final_norm  # mmpretrain's defaults
    randomise(model)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        (pooled, ) = model(x)
        h = x
        for down, stage in zip(model.downsample_layers, model.stages):
            h = stage(down(h))
    assert pooled.shape == (2, 320)
    norm = model.norm3
    expected = F.layer_norm(h.mean((2, 3)), (320, ), norm.weight, norm.bias, 1e-6)
    torch.testing.assert_close(pooled, expected)


def test_frozen_stages_has_mmpretrains_meaning():
    def frozen(k):
        model = mmbackbones.build_backbone('convnext_atto', frozen_stages=k).train()
        return {n.rsplit('.', 1)[0].split('.')[0] + '.' + n.split('.')[1]
                for n, p in model.named_parameters() if not p.requires_grad}

    assert frozen(0) == frozen(-1) == set()  # mmpretrain: 0 freezes nothing
    assert frozen(1) == {'downsample_layers.0', 'stages.0'}
    assert frozen(2) == {'downsample_layers.0', 'downsample_layers.1', 'stages.0', 'stages.1'}


def test_layer_depth_equals_mmpretrain():
    mmpretrain_convnext = pytest.importorskip('mmpretrain.models.backbones.convnext')
    # tiny's and small's depths, narrow (cheap to build)
    for depths in ((3, 3, 9, 3), (3, 3, 27, 3)):
        arch = dict(depths=list(depths), channels=[8, 16, 32, 64])
        theirs = mmpretrain_convnext.ConvNeXt(arch=arch, out_indices=(0, 1, 2, 3))
        with torch.device('meta'):
            ours = mmbackbones.MODELS.build(dict(type='mmbackbones.ConvNeXt', arch=arch,
                                                 out_indices=(0, 1, 2, 3)))
        names = [n for n, _ in theirs.named_parameters()]
        assert names == [n for n, _ in ours.named_parameters()]
        for name in names:
            assert ours.get_layer_depth('backbone.' + name, 'backbone.') == \
                theirs.get_layer_depth('backbone.' + name, 'backbone.'), name


@pytest.mark.parametrize('kwargs,match', [
    (dict(norm_cfg=dict(type='BN')), r"norm_cfg=\{'type': 'BN'\}.*LN2d"),
    (dict(arch='medium'), r"arch='medium'.*'atto'"),
    (dict(layer_scale_init_value=-1), r'layer_scale_init_value=-1.*>= 0'),
    (dict(frozen_stages=5), r'frozen_stages=5'),
    (dict(gap_before_final_norm=1), r'gap_before_final_norm=1.*True, False'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        mmbackbones.MODELS.build(dict(type='mmbackbones.ConvNeXt', **kwargs))


def test_pretrained_prefix_of_mmdet_configs(tmp_path):
    """mmdet's ConvNeXt configs load with prefix='backbone.': the backbone part of a whole
    classifier checkpoint (mmpretrain's layout); any other prefix is refused."""
    source = mmbackbones.build_backbone('convnext_atto', out_indices=(3, ))
    randomise(source, every_parameter=True)
    classifier = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    classifier['head.fc.weight'] = torch.zeros(10, 320)
    torch.save(classifier, tmp_path / 'cls.pth')
    init = dict(type='Pretrained', checkpoint=str(tmp_path / 'cls.pth'), prefix='backbone.')
    model = mmbackbones.build_backbone('convnext_atto', out_indices=(3, ), init_cfg=init)
    model.init_weights()
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())
    other = mmbackbones.build_backbone('convnext_atto', init_cfg=dict(init, prefix='model.'))
    with pytest.raises(ValueError, match=r"prefix='model\.'.*'backbone\.'"):
        other.init_weights()
