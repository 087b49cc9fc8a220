"""mmdet/mmseg SwinTransformer dicts pasted into ``mmbackbones.SwinTransformer``: arguments,
outputs, frozen_stages and initialisation checked against mmdet's / mmseg's own class."""
import pytest
import torch
import torch.nn as nn

import mmbackbones
from mmbackbones.models.backbones import SwinTransformer
from mmbackbones.weights import convert

from .helpers import feature_mismatch, randomise

# A small Swin that still has every part: 4 stages, shifted blocks, patch mergings.
SMALL = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8], window_size=7)


def _reference_class(library):
    if library == 'mmdet':
        from mmdet.models.backbones import SwinTransformer as Reference
    else:
        from mmseg.models.backbones import SwinTransformer as Reference
    return Reference


def _pair(library, **cfg):
    """OpenMMLab's backbone and ours, both built from the same dict; ours holds its weights."""
    torch.manual_seed(0)
    ref = _reference_class(library)(**cfg)
    randomise(ref, every_parameter=True)
    ref.eval()
    ours = mmbackbones.MODELS.build(dict(type='mmbackbones.SwinTransformer', **cfg)).eval()
    ours.load_state_dict(convert(ref.state_dict(), ours, library), strict=True)
    return ref, ours


@pytest.mark.parametrize('library', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('extra', [
    dict(),
    # what mmdet's and mmseg's Swin configs spell out, all at OpenMMLab's defaults
    dict(patch_size=4, mlp_ratio=4, strides=(4, 2, 2, 2), out_indices=(0, 1, 2, 3),
         qkv_bias=True, qk_scale=None, patch_norm=True, drop_rate=0., attn_drop_rate=0.,
         drop_path_rate=0.2, use_abs_pos_embed=False, act_cfg=dict(type='GELU'),
         norm_cfg=dict(type='LN', requires_grad=True), with_cp=False),
    dict(pretrain_img_size=(224, 320), use_abs_pos_embed=True),  # a tuple crashed before
    dict(pretrain_img_size=(160, ), use_abs_pos_embed=True, out_indices=(1, 3)),
    dict(qk_scale=0.1, qkv_bias=False, patch_norm=False, mlp_ratio=2),
    dict(window_size=12, norm_cfg=dict(type='LN', eps=1e-6)),
], ids=['defaults', 'spelled-out', 'abs-pos-tuple', 'abs-pos-1-tuple', 'variations', 'w12'])
def test_pasted_dict_computes_what_openmmlab_computes(library, extra):
    """Including maps no larger than the window (97x131 -> a 4x5 last map), where a pasted
    dict must shift with padding as OpenMMLab does."""
    cfg = dict(SMALL, **extra)
    ref, ours = _pair(library, **cfg)
    assert not ours.fit_window_to_map
    sizes = [(97, 131), (224, 224)]
    if extra.get('use_abs_pos_embed'):
        # OpenMMLab adds its table without resizing: only the pretraining size runs there.
        size = cfg['pretrain_img_size']
        sizes = [(size[0], size[-1])]
    for size in sizes:
        x = torch.rand(1, 3, *size)
        with torch.no_grad():
            errors = feature_mismatch(ours(x), ref(x))
        assert max(errors) <= 1e-4, (size, errors)


def test_named_arch_keeps_the_classification_window_rule():
    """arch= (our zoo's names) keeps timm's rule; the same model given OpenMMLab's way does
    what mmdet does. They differ exactly on maps no larger than the window."""
    named = SwinTransformer('tiny', drop_path_rate=0.0).eval()
    pasted = SwinTransformer(embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                             drop_path_rate=0.0).eval()
    assert named.fit_window_to_map and not pasted.fit_window_to_map
    pasted.load_state_dict(named.state_dict())
    x = torch.rand(1, 3, 224, 224)  # last map 7x7 = the window
    with torch.no_grad():
        a, b = named(x), pasted(x)
    for level in range(3):
        torch.testing.assert_close(a[level], b[level])
    assert not torch.allclose(a[3], b[3], atol=1e-3)
    explicit = SwinTransformer(embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                               fit_window_to_map=True)
    assert explicit.fit_window_to_map


def test_mmdet_defaults_are_swin_tiny():
    from mmdet.models.backbones import SwinTransformer as Reference
    ref_params = sum(p.numel() for p in Reference().parameters())
    with torch.device('meta'):
        ours = mmbackbones.MODELS.build(dict(type='mmbackbones.SwinTransformer'))
    assert sum(p.numel() for p in ours.parameters()) == ref_params


@pytest.mark.parametrize('bad, match', [
    (dict(strides=(4, 2, 2, 1)), r'strides=.*valid value.*\(4, 2, 2, 2\)'),
    (dict(strides=(2, 2, 2, 2)), r'strides='),
    (dict(act_cfg=dict(type='ReLU')), r"act_cfg=.*'GELU'"),
    (dict(norm_cfg=dict(type='BN')), r"norm_cfg=.*'LN'"),
    (dict(pretrain_img_size=(224, 224, 3)), r'pretrain_img_size='),
    (dict(arch='tiny', embed_dims=96), r'arch=.*embed_dims'),
    (dict(depths=[2, 2], num_heads=[3, 6, 12]), r'depths.*num_heads'),
    (dict(qk_scale=-1.0), r'qk_scale='),
    (dict(convert_weights='yes'), r'convert_weights='),
    (dict(frozen_stages=5), r'frozen_stages=5.*-1.*4'),
    (dict(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth')),
     r'pretrained=.*init_cfg=.*together'),
])
def test_values_we_do_not_implement_are_refused_by_name(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        SwinTransformer(**bad)


def test_pretrained_and_init_cfg_together_are_refused_by_openmmlab_too():
    from mmdet.models.backbones import SwinTransformer as Reference
    with pytest.raises(AssertionError):
        Reference(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth'))
    with pytest.raises(TypeError, match='pretrained'):
        SwinTransformer(pretrained=3)


@pytest.mark.parametrize('library', ['mmdet', 'mmseg'])
def test_pretrained_string_loads_an_openmmlab_checkpoint(library, tmp_path):
    """``pretrained=`` (what mmseg's EncoderDecoder pushes in) loads like init_cfg Pretrained."""
    ref, _ = _pair(library, **SMALL)
    path = tmp_path / 'swin.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in ref.state_dict().items()}}, path)
    ours = SwinTransformer(**SMALL, pretrained=str(path))
    assert ours.init_cfg == dict(type='Pretrained', checkpoint=str(path))
    ours.init_weights()
    ours.eval()
    x = torch.rand(1, 3, 97, 131)
    with torch.no_grad():
        assert max(feature_mismatch(ours(x), ref(x))) <= 1e-4


# ------------------------------------------------------------------------- frozen_stages
def _built_in_train_mode(library, cfg):
    """OpenMMLab's Swin and ours from ``cfg`` after ``train()``, with the names of their frozen
    parameters (OpenMMLab's in its own order, ours as a set)."""
    ref = _reference_class(library)(**cfg)
    ref.train()
    ours = SwinTransformer(**cfg)
    ours.train()
    ref_frozen = [n for n, p in ref.named_parameters() if not p.requires_grad]
    our_frozen = {n for n, p in ours.named_parameters() if not p.requires_grad}
    return ref, ours, ref_frozen, our_frozen


def _to_ours(names, ref, ours, library):
    """Our name for each of OpenMMLab's parameter names (through the weight converter)."""
    state = ref.state_dict()
    return set(convert({n: state[n] for n in names}, ours, library))


@pytest.mark.parametrize('library', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('out_indices', [(0, 1, 2, 3), (1, 3)])
@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3, 4])
def test_frozen_stages_freeze_what_openmmlab_freezes(library, out_indices, frozen_stages):
    cfg = dict(SMALL, out_indices=out_indices, frozen_stages=frozen_stages,
               drop_path_rate=0.3, use_abs_pos_embed=True)
    ref, ours, ref_frozen, our_frozen = _built_in_train_mode(library, cfg)
    assert _to_ours(ref_frozen, ref, ours, library) == our_frozen
    assert len(our_frozen) == len(ref_frozen)
    if frozen_stages >= 0:
        assert our_frozen  # the stem at least
    # Layer norms: the same ones in eval mode.
    ours_modules = dict(ours.named_modules())
    for name, module in ref.named_modules():
        if isinstance(module, nn.LayerNorm):
            (key, ) = _to_ours([f'{name}.weight'], ref, ours, library)
            assert ours_modules[key[:-len('.weight')]].training == module.training, name
    # Stochastic depth: off exactly in the frozen blocks, as OpenMMLab's eval() makes it.
    for i, stage in enumerate(ref.stages):
        for j, block in enumerate(stage.blocks):
            assert ours.stages[i].blocks[j].drop_path.training == block.attn.drop.training


# ------------------------------------------------------------------------- initialisation
def test_from_scratch_init_follows_openmmlab_and_window_msa():
    """No init_cfg: Linear ~ trunc normal(0.02) with zero bias, LayerNorm (1, 0), position
    tables ~ trunc normal(0.02), the rules of mmdet's SwinTransformer.init_weights and
    WindowMSA.init_weights."""
    from mmdet.models.backbones.swin import WindowMSA
    torch.manual_seed(0)
    ours = SwinTransformer(**SMALL, use_abs_pos_embed=True)
    ours.init_weights()
    window = WindowMSA(32, 1, (7, 7))
    window.init_weights()
    _check_family_init(ours, window.relative_position_bias_table.std().item())


def _check_family_init(ours, table_std):
    tables = torch.cat([m.attn.relative_position_bias_table.flatten() for s in ours.stages
                        for m in s.blocks])
    assert abs(tables.std().item() - table_std) < 0.005
    linears = [m for m in ours.modules() if isinstance(m, nn.Linear)]
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert abs(weights.std().item() - 0.02) < 0.002
    assert all(torch.count_nonzero(m.bias) == 0 for m in linears if m.bias is not None)
    for m in ours.modules():
        if isinstance(m, nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    assert abs(ours.absolute_pos_embed.std().item() - 0.02) < 0.005


def test_non_pretrained_init_cfg_list_keeps_the_family_init(tmp_path):
    """A list init_cfg is applied on top of the family's own init (the position tables were
    left at zero before); a Pretrained entry in it is loaded last, through our converters."""
    from mmdet.models.backbones.swin import WindowMSA
    window = WindowMSA(32, 1, (7, 7))
    window.init_weights()
    torch.manual_seed(0)
    ours = SwinTransformer(**SMALL, use_abs_pos_embed=True,
                           init_cfg=[dict(type='Constant', layer='Conv2d', val=0.5, bias=0.)])
    ours.init_weights()
    _check_family_init(ours, window.relative_position_bias_table.std().item())
    assert torch.all(ours.patch_embed.proj.weight == 0.5)

    ref, _ = _pair('mmdet', **SMALL)
    path = tmp_path / 'swin.pth'
    torch.save(ref.state_dict(), path)
    ours = SwinTransformer(**SMALL, init_cfg=[
        dict(type='Pretrained', checkpoint=str(path)),
        dict(type='Constant', layer='Conv2d', val=0.5, bias=0.)])
    ours.init_weights()
    ours.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert max(feature_mismatch(ours(x), ref(x))) <= 1e-4


@pytest.mark.parametrize('library', ['mmdet', 'mmseg'])
def test_norm_cfg_requires_grad_false_freezes_the_layer_norms_as_openmmlab(library):
    cfg = dict(SMALL, norm_cfg=dict(type='LN', requires_grad=False), frozen_stages=1)
    ref, ours, ref_frozen, our_frozen = _built_in_train_mode(library, cfg)
    assert _to_ours(ref_frozen, ref, ours, library) == our_frozen
