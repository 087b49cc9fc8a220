"""ViT beyond the battery (which checks the zoo rows against timm, torchvision, mmseg and
mmpretrain): what a non-multiple of the patch does, mmseg's and mmpretrain's differing
meanings, torchvision's layout on a small model, layer depths as mmpretrain numbers them, and
mmseg's MultiLevelNeck.

Truths: timm's, torchvision's, mmseg's and mmpretrain's own modules, small so that the file
stays within the default run's budget.
"""
import re

import pytest
import torch

import mmbackbones
from mmbackbones.references import build_openmmlab
from mmbackbones.weights import convert

from . import helpers
from .helpers import feature_mismatch, randomise

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope

TINY = dict(embed_dims=64, num_layers=3, num_heads=4, feedforward_channels=128)


def _ours(**kwargs):
    return mmbackbones.MODELS.build(dict(type='mmbackbones.VisionTransformer', **kwargs)).eval()


def _close(ours, reference):
    errors = feature_mismatch(ours, reference)
    assert max(errors) <= 1e-4, errors


def test_sides_not_a_multiple_of_the_patch_pad_by_default():
    """Padded at the bottom / right as timm's dynamic_img_pad (timm refuses such inputs
    without it), mmseg's and mmpretrain's 'corner' padding do."""
    from timm.models.vision_transformer import VisionTransformer as TimmViT
    x = torch.rand(1, 3, 70, 90)  # 4.4 x 5.6 patches
    torch.manual_seed(0)
    ref = TimmViT(img_size=64, patch_size=16, embed_dim=64, depth=3, num_heads=4, mlp_ratio=2,
                  num_classes=0, dynamic_img_size=True, dynamic_img_pad=True).eval()
    randomise(ref, every_parameter=True)
    ours = _ours(arch=TINY, img_size=64, interpolate_antialias=True, out_indices=(0, 2))
    ours.load_state_dict(convert(ref.state_dict(), ours, 'timm'))
    with torch.no_grad():
        got = ours(x)
        levels = ref.forward_intermediates(x, indices=[0, 2], output_fmt='NCHW',
                                           intermediates_only=True)
    levels[-1] = ref.norm(levels[-1].permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert got[0].shape[-2:] == (5, 6)  # ceil(70 / 16), ceil(90 / 16)
    _close(got, levels)


def test_patch_pad_0_floors_as_mmsegs():
    ours, theirs = _mmseg_pair(patch_pad=0)
    x = torch.rand(1, 3, 70, 90)
    with torch.no_grad():
        got = ours(x)
        assert got[0].shape[-2:] == (4, 5)  # the last 6 rows and 10 columns are dropped
        _close(got, theirs(x))


def test_torchvision_layout_on_a_small_model():
    from torchvision.models.vision_transformer import VisionTransformer as TorchvisionViT
    from mmbackbones.models.backbones.vit import _torchvision_levels
    torch.manual_seed(0)
    ref = TorchvisionViT(image_size=64, patch_size=16, num_layers=3, num_heads=4, hidden_dim=64,
                         mlp_dim=128).eval()
    randomise(ref, every_parameter=True)
    ours = _ours(arch=TINY, img_size=64, interpolate_antialias=True, out_indices=(0, 1, 2))
    ours.load_state_dict(convert(ref.state_dict(), ours, 'torchvision'))  # strict: every key
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        tokens = ref._process_input(x)
        tokens = ref.encoder(torch.cat([ref.class_token.expand(2, -1, -1), tokens], dim=1))
        final = tokens[:, 1:].transpose(1, 2).reshape(2, 64, 4, 4)
        _close(ours(x)[-1:], [final])  # torchvision's own forward at its size
        bigger = torch.rand(2, 3, 80, 113)
        _close(ours(bigger), _torchvision_levels(ref, bigger))


def _mmseg_pair(**cfg):
    cfg = dict(type='VisionTransformer', img_size=64, patch_size=16, embed_dims=64, num_layers=3,
               num_heads=4, mlp_ratio=2, out_indices=(0, 2), **cfg)
    torch.manual_seed(0)
    theirs = build_openmmlab(cfg, 'mmseg')
    randomise(theirs, every_parameter=True)
    ours = build_openmmlab(dict(cfg, type='mmbackbones.VisionTransformer'), 'mmseg')
    ours.load_state_dict(convert(theirs.state_dict(), ours, 'mmseg'))
    theirs.eval()  # mmseg's train() returns None
    return ours.eval(), theirs


@pytest.mark.parametrize('cfg', [
    # SETR-MLA's form: the class token only carries its position, then is dropped
    dict(with_cls_token=False, interpolate_mode='bilinear', final_norm=True),
    # DPT's form: every output is [map, class token]
    dict(output_cls_token=True, patch_norm=True, qkv_bias=False),
], ids=['without-class-token', 'output-class-token'])
def test_mmseg_forms(cfg):
    ours, theirs = _mmseg_pair(**cfg)
    x = torch.rand(2, 3, 72, 100)  # position table enlarged, input padded
    with torch.no_grad():
        got, expected = ours(x), theirs(x)
    if cfg.get('output_cls_token'):
        assert all(isinstance(o, list) and len(o) == 2 for o in got)
        got, expected = [t for o in got for t in o], [t for o in expected for t in o]
    _close(got, expected)


def test_mmpretrain_without_class_token_has_none():
    cfg = dict(type='VisionTransformer', arch=TINY, img_size=64, out_type='featmap',
               with_cls_token=False, out_indices=(1, 2))
    torch.manual_seed(0)
    theirs = build_openmmlab(cfg, 'mmpretrain')
    randomise(theirs, every_parameter=True)
    ours = build_openmmlab(dict(cfg, type='mmbackbones.VisionTransformer'), 'mmpretrain')
    assert ours.cls_token is None and ours.pos_embed.shape == (1, 16, 64)
    ours.load_state_dict(convert(theirs.state_dict(), ours, 'mmpretrain'))
    x = torch.rand(1, 3, 80, 50)
    theirs.eval()
    with torch.no_grad():
        _close(ours.eval()(x), theirs(x))


def test_distilled_deit_weights_are_refused_naming_the_token(tmp_path):
    """DeiT's distilled weights (a class and a distillation token) would load shifted by one
    position into a one-token ViT: timm's and mmpretrain's layouts are refused, naming
    'dist_token' and what is supported, whether the layout is given or detected (small models
    of the same classes as timm's deit_*_distilled_* and mmpretrain's DeiT-distilled configs)."""
    pytest.importorskip('timm')
    from timm.models.deit import VisionTransformerDistilled
    from timm.models.vision_transformer import VisionTransformer as TimmViT
    from mmbackbones.weights import PretrainedMismatchError, load_pretrained
    small = dict(img_size=64, patch_size=16, embed_dim=64, depth=3, num_heads=4, mlp_ratio=2)
    ours = _ours(arch=TINY, img_size=64)
    timm_sd = VisionTransformerDistilled(**small).state_dict()
    theirs = build_openmmlab(dict(type='DistilledVisionTransformer', arch=TINY, img_size=64,
                                  out_type='featmap'), 'mmpretrain')
    mmpretrain_sd = {f'backbone.{k}': v for k, v in theirs.state_dict().items()}
    for source, state in (('timm', timm_sd), ('mmpretrain', mmpretrain_sd)):
        with pytest.raises(PretrainedMismatchError, match=r"'dist_token'.*deit_\*_patch16_224"):
            convert(state, ours, source)
        path = tmp_path / f'{source}.pth'
        torch.save(state, path)
        with pytest.raises(PretrainedMismatchError, match="'dist_token'"):
            load_pretrained(ours, str(path))
    # the same class without the distillation token loads (timm's non-distilled DeiT)
    ours.load_state_dict(convert(TimmViT(**small).state_dict(), ours, 'timm'))


def test_checkpoint_position_table_is_fitted_to_img_size():
    """A 4x4-grid checkpoint loaded into img_size=128 (8x8): resized as mmseg resizes it when
    loading, so both compute the same."""
    _, small = _mmseg_pair(final_norm=True)
    cfg = dict(type='VisionTransformer', img_size=128, patch_size=16, embed_dims=64,
               num_layers=3, num_heads=4, mlp_ratio=2, out_indices=(2, ), final_norm=True)
    theirs = build_openmmlab(cfg, 'mmseg')
    state = dict(small.state_dict())
    state['pos_embed'] = theirs.resize_pos_embed(state['pos_embed'], (8, 8), (4, 4), 'bicubic')
    theirs.load_state_dict(state)
    ours = build_openmmlab(dict(cfg, type='mmbackbones.VisionTransformer'), 'mmseg')
    ours.load_state_dict(convert(small.state_dict(), ours, 'mmseg'))
    x = torch.rand(1, 3, 128, 96)
    theirs.eval()
    with torch.no_grad():
        _close(ours.eval()(x), theirs(x))


def test_layer_depths_are_mmpretrains():
    cfg = dict(type='VisionTransformer', arch=TINY, img_size=64, out_type='featmap')
    with torch.device('meta'):
        theirs = build_openmmlab(cfg, 'mmpretrain')
        ours = build_openmmlab(dict(cfg, type='mmbackbones.VisionTransformer'), 'mmpretrain')
    names = {n: n for n, _ in theirs.named_parameters()}
    ours_names = convert(names, ours, 'mmpretrain')  # our name -> theirs
    assert sorted(ours_names) == sorted(n for n, _ in ours.named_parameters())
    for name, their_name in ours_names.items():
        assert (ours.get_layer_depth('backbone.' + name, 'backbone.')
                == theirs.get_layer_depth('backbone.' + their_name, 'backbone.')), name


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='base', embed_dims=768), 'both given'),
    (dict(arch='base', out_type='cls_token'), 'out_type'),
    (dict(frozen_exclude=['pos_embed']), 'frozen_exclude'),
    (dict(interpolate_mode='nearest'), 'interpolate_mode'),
    (dict(arch='huge-ish'), 'valid values'),
    (dict(patch_pad='same'), 'patch_pad'),
    (dict(norm_cfg=dict(type='BN')), 'norm_cfg'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with torch.device('meta'), pytest.raises(ValueError, match=match):
        _ours(**kwargs)


def test_multilevel_neck_equals_mmsegs():
    from mmseg.models.necks import MultiLevelNeck as MMSegNeck
    for in_channels, norm in (([8, 8, 8, 8], None), ([8], dict(type='BN'))):
        kwargs = dict(in_channels=in_channels, out_channels=6, scales=[4, 2, 1, 0.5],
                      norm_cfg=norm, act_cfg=None if norm is None else dict(type='ReLU'))
        torch.manual_seed(0)
        theirs = MMSegNeck(**kwargs)
        theirs.init_weights()
        randomise(theirs, every_parameter=True)
        ours = mmbackbones.MODELS.build(dict(type='mmbackbones.MultiLevelNeck', **kwargs))
        ours.load_state_dict(theirs.state_dict())  # the same keys: mmseg's weights load
        assert ours.out_channels == (6, 6, 6, 6)
        inputs = [torch.rand(2, 8, 7, 9) for _ in in_channels]
        with torch.no_grad():
            theirs.eval()
            got, expected = ours.eval()(inputs), theirs(inputs)
        assert [tuple(o.shape) for o in got] == [(2, 6, 28, 36), (2, 6, 14, 18), (2, 6, 7, 9),
                                                 (2, 6, 3, 4)]
        _close(got, expected)
    with pytest.raises(ValueError, match='one per scale'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.MultiLevelNeck', in_channels=[8, 8],
                                      out_channels=6, scales=[4, 2, 1]))


def test_pasted_mmseg_upernet_dict_builds_with_our_neck():
    """mmseg's ViT-B + MultiLevelNeck dicts, with only the types changed, build and fit."""
    from mmengine.config import Config
    from .helpers import openmmlab_config_dir
    cfg = Config.fromfile(f"{openmmlab_config_dir('mmseg')}/_base_/models/upernet_vit-b16_ln_mln.py")
    backbone = dict(cfg.model.backbone, type='mmbackbones.VisionTransformer')
    neck = dict(cfg.model.neck, type='mmbackbones.MultiLevelNeck')
    with torch.device('meta'):
        ours = build_openmmlab(backbone, 'mmseg')
        neck = mmbackbones.MODELS.build(neck)
    assert list(ours.out_channels) == neck.in_channels and ours.out_strides == (16, ) * 4
    assert re.search(r'eps=1e-06', repr(ours.blocks[0].norm1))


def test_set_input_size_keeps_what_the_model_computes_at_that_size():
    """The position table resized once (a fixed-size export) gives the outputs the model gave
    at that size, resizing per forward with timm's antialiased kernel; other sizes still run."""
    torch.manual_seed(0)
    model = mmbackbones.build_backbone('vit_tiny_patch16_224').eval()
    randomise(model)
    x = torch.randn(1, 3, 72, 100)
    with torch.no_grad():
        before = model(x)
        model.set_input_size((72, 100))
        after = model(x)
        model(torch.randn(1, 3, 64, 64))
    assert model.pos_grid == (5, 7)
    assert model.pos_embed.shape[1] == 1 + 5 * 7
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize('family,valid', [
    ('VisionTransformer', "dict(type='LN')"), ('PyramidVisionTransformer', "dict(type='LN')"),
    ('SwinTransformer', "dict(type='LN')"), ('ViTDet', "dict(type='LN')"),
    ('ConvNeXt', "dict(type='LN2d') or dict(type='LN')")])
def test_layer_norm_families_refuse_any_other_norm(family, valid):
    for norm_cfg in (dict(type='BN'), dict(type='LN', momentum=0.1)):
        message = f'norm_cfg={norm_cfg!r}; only {valid} is implemented (optional keys: eps, ' \
                  'requires_grad)'
        with pytest.raises(ValueError, match=re.escape(message)):
            mmbackbones.MODELS.build(dict(type=f'mmbackbones.{family}', norm_cfg=norm_cfg))


@pytest.mark.parametrize('family,eps', [('ViTDet', 1e-6), ('ConvNeXt', 1e-6)])
def test_layer_norm_families_keep_the_openmmlab_default_eps_and_requires_grad(family, eps):
    """ViTDet's default norm_cfg (mmdet's projects/ViTDet) and ConvNeXt's (mmpretrain) set
    eps 1e-6; requires_grad=False leaves no LayerNorm parameter to train, as mmcv's norms."""
    arch = dict(arch='atto') if family == 'ConvNeXt' else dict(
        embed_dim=32, depth=4, num_heads=2, window_size=4, img_size=64, pretrain_img_size=64)
    model = mmbackbones.MODELS.build(dict(type=f'mmbackbones.{family}', **arch))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and {m.eps for m in norms} == {eps}
    frozen = mmbackbones.MODELS.build(dict(type=f'mmbackbones.{family}', **arch, norm_cfg=dict(
        type='LN', eps=1e-5, requires_grad=False)))
    norms = [m for m in frozen.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert {m.eps for m in norms} == {1e-5}
    assert not any(p.requires_grad for m in norms for p in m.parameters())
    assert any(p.requires_grad for p in frozen.parameters())
