"""PVT behaviour beyond the battery: the official checkpoint layout, mmdet's config dicts,
the sizes where PVTv1 and mmdet agree, and argument checks."""
import pytest
import torch

import mmbackbones
from mmbackbones.references import build_openmmlab
from mmbackbones.weights import convert

from . import helpers
from .helpers import feature_mismatch, randomise

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope


def test_official_layout_converts_as_timm_reads_it():
    """whai362/PVT's keys (what mmdet's configs load) give the features of the timm model
    that timm's own filter makes of them."""
    timm = pytest.importorskip('timm')
    from timm.models.pvt_v2 import checkpoint_filter_fn
    torch.manual_seed(0)
    ref = timm.create_model('pvt_v2_b0', pretrained=False, num_classes=0).eval()
    randomise(ref, every_parameter=True)
    # timm's layout back to the official one (the inverse of timm's filter)
    official = {}
    for key, value in ref.state_dict().items():
        key = key.replace('patch_embed.', 'patch_embed1.')
        key = key.replace('mlp.dwconv', 'mlp.dwconv.dwconv')
        for i in range(1, 4):
            key = key.replace(f'stages.{i}.downsample.', f'patch_embed{i + 1}.')
        for i in range(4):
            key = key.replace(f'stages.{i}.blocks.', f'block{i + 1}.').replace(
                f'stages.{i}.norm.', f'norm{i + 1}.')
        official[key] = value
    filtered = checkpoint_filter_fn(official, ref)
    assert set(filtered) == set(ref.state_dict())  # the inverse above is exact
    model = mmbackbones.build_backbone('pvt_v2_b0').eval()
    model.load_state_dict(convert(official, model, 'official'))
    x = torch.rand(1, 3, 96, 160)
    with torch.no_grad():
        expected = [f for f in ref.forward_intermediates(x, intermediates_only=True)]
        assert max(feature_mismatch(model(x), expected)) < 1e-5


def test_v1_official_class_token_position_is_dropped():
    model = mmbackbones.build_backbone('pvt_tiny', out_indices=(3, ))
    state = {k: v for k, v in model.state_dict().items()}
    official = {'pos_embed4': torch.rand(1, 50, 512), 'cls_token': torch.rand(1, 1, 512)}
    out = convert(official, model, 'official')
    assert set(out) == {'stages.3.downsample.pos_embed'}
    key = 'stages.3.downsample.pos_embed'
    assert out[key].shape == state[key].shape
    torch.testing.assert_close(out[key], official['pos_embed4'][:, 1:])


@pytest.mark.parametrize('cfg', [
    dict(type='PyramidVisionTransformer', num_layers=[2, 2, 2, 2],
         init_cfg=dict(checkpoint='pvt_tiny.pth')),
    dict(type='PyramidVisionTransformerV2', embed_dims=32, num_layers=[2, 2, 2, 2],
         init_cfg=dict(checkpoint='pvt_v2_b0.pth')),
])
def test_mmdet_config_dicts_paste(cfg):
    """mmdet's PVT config dicts (init_cfg without a type, as mmdet's configs give it) build
    here with only type changed, with parameters of mmdet's sizes."""
    theirs = build_openmmlab(cfg, 'mmdet')
    ours = build_openmmlab(dict(cfg, type=f"mmbackbones.{cfg['type']}"), 'mmdet')
    assert ours.init_cfg['type'] == 'Pretrained'
    assert sorted(p.numel() for p in ours.parameters()) == sorted(
        p.numel() for p in theirs.parameters())


def test_v1_equals_mmdet_at_multiples_of_32_and_pads_otherwise():
    """mmdet's non-overlapping embeddings floor; ours pad to ceil: equal features where the
    input is a multiple of 32, and one row / column more than mmdet's otherwise."""
    cfg = dict(type='PyramidVisionTransformer', num_layers=[1, 1, 1, 1])
    theirs = build_openmmlab(cfg, 'mmdet').eval()
    randomise(theirs, every_parameter=True)
    ours = build_openmmlab(dict(cfg, type='mmbackbones.PyramidVisionTransformer'), 'mmdet').eval()
    ours.load_state_dict(convert(theirs.state_dict(), ours, 'mmdet'))
    with torch.no_grad():
        x = torch.rand(1, 3, 96, 160)
        assert max(feature_mismatch(ours(x), theirs(x))) < 1e-5
        x = torch.rand(1, 3, 100, 161)
        assert [f.shape[2:] for f in ours(x)] == [(25, 41), (13, 21), (7, 11), (4, 6)]
        assert [f.shape[2:] for f in theirs(x)] == [(25, 40), (12, 20), (6, 10), (3, 5)]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='arch=.*valid values'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.PyramidVisionTransformerV2', arch='b9'))
    with pytest.raises(ValueError, match='both given'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.PyramidVisionTransformer', arch='tiny',
                                      num_layers=[2, 2, 2, 2]))
    with pytest.raises(TypeError, match='patch_sizes'):  # PVTv2 fixes it, as mmdet
        mmbackbones.MODELS.build(dict(type='mmbackbones.PyramidVisionTransformerV2',
                                      patch_sizes=[4, 2, 2, 2]))
    with pytest.raises(ValueError, match='num_layers=.*one per stage'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.PyramidVisionTransformer',
                                      num_layers=[2, 2, 2]))
    with pytest.raises(ValueError, match='norm_cfg'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.PyramidVisionTransformer',
                                      norm_cfg=dict(type='BN')))
    with pytest.raises(ValueError, match='linear=False contradicts'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.PyramidVisionTransformerV2',
                                      arch='b2_li', linear=False))


def test_linear_attention_keys_and_values_do_not_grow_with_the_input():
    """PVTv2-li pools keys and values to 7x7 whatever the input size."""
    model = mmbackbones.build_backbone('pvt_v2_b2_li', out_indices=(0, )).eval()
    attn = model.stages[0].blocks[0].attn
    for size in (64, 160):
        x = torch.rand(1, 16, 16 if size == 64 else 40, 64)
        assert attn._reduced(x).shape == (1, 49, 64)


def test_v1_official_layout_converts_as_mmdet_reads_it():
    """whai362/PVT v1 keys (mmdet's PVT configs load these checkpoints): our converter and
    mmdet's own ``pvt_convert`` give the same features."""
    from mmdet.models.backbones.pvt import pvt_convert
    cfg = dict(type='PyramidVisionTransformer', num_layers=[1, 1, 1, 1])
    theirs = build_openmmlab(cfg, 'mmdet').eval()
    ours = build_openmmlab(dict(cfg, type='mmbackbones.PyramidVisionTransformer'), 'mmdet').eval()
    randomise(ours, every_parameter=True)
    # our weights in the official layout: patch_embed{i}, pos_embed{i} (the last one with the
    # class token's position), block{i}.{j}.attn.{q,kv}, cls_token and a classifier
    official = {'cls_token': torch.rand(1, 1, 512), 'head.weight': torch.rand(1000, 512),
                'head.bias': torch.rand(1000), 'norm.weight': torch.rand(512),
                'norm.bias': torch.rand(512)}
    for key, value in ours.state_dict().items():
        stage = int(key.split('.')[1]) if key.startswith('stages.') else 0
        if key.endswith('pos_embed'):
            if stage == 3:
                value = torch.cat([torch.rand(1, 1, value.shape[2]), value], dim=1)
            official[f'pos_embed{stage + 1}'] = value
            continue
        key = key.replace('patch_embed.', 'patch_embed1.')
        key = key.replace(f'stages.{stage}.downsample.', f'patch_embed{stage + 1}.')
        key = key.replace(f'stages.{stage}.blocks.', f'block{stage + 1}.')
        if '.attn.qkv.' in key:
            dim = value.shape[0] // 3
            official[key.replace('.qkv.', '.q.')] = value[:dim]
            official[key.replace('.qkv.', '.kv.')] = value[dim:]
            continue
        official[key] = value
    missing, unexpected = theirs.load_state_dict(pvt_convert(official), strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    fresh = build_openmmlab(dict(cfg, type='mmbackbones.PyramidVisionTransformer'), 'mmdet')
    fresh.load_state_dict(convert(official, fresh, 'official'))
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        assert max(feature_mismatch(fresh.eval()(x), theirs(x))) < 1e-5


def test_v2_inference_peak_memory_is_no_higher_than_timms():
    """PVTv2's feed-forward network widens every token 8 times in the first stages: ours frees
    each wide map as soon as the next exists, so one forward under inference_mode peaks no
    higher than timm's (it peaked above it while three of those maps were alive at once)."""
    pytest.importorskip('timm')
    from mmbackbones.analysis import step_peak_mb
    from mmbackbones.references import build_reference
    x = torch.rand(1, 3, 64, 64)
    ours = mmbackbones.build_backbone('pvt_v2_b0', out_indices=(0, 1, 2, 3)).eval()
    ref = build_reference('pvt_v2_b0', 'timm', (64, 64))

    def peak(forward, model):
        def step():
            with torch.inference_mode():
                forward(x)
        return step_peak_mb(step, model, 'cpu')

    assert peak(ours, ours) <= peak(ref.levels, ref.model)
