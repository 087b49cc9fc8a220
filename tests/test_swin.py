"""Swin-specific checks beyond the battery: mmdet/mmseg parity, odd sizes, window rules."""
import pytest
import torch

import mmbackbones
from mmbackbones.models.backbones import SwinTransformer
from mmbackbones.weights import convert

from .helpers import feature_mismatch, randomise

TINY = dict(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))


def _openmmlab_swin(library, **kwargs):
    if library == 'mmdet':
        from mmdet.models.backbones import SwinTransformer as Reference
    else:
        from mmseg.models.backbones import SwinTransformer as Reference
    torch.manual_seed(0)
    ref = Reference(**TINY, window_size=7, out_indices=(0, 1, 2, 3), drop_path_rate=0.0, **kwargs)
    ref.init_weights()
    randomise(ref)  # non-trivial output norms and patch-merging norms
    ref.eval()  # (mmdet's train() returns None, so no chaining)
    return ref


@pytest.mark.parametrize('library', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('size', [(224, 224), (200, 328), (97, 131)])
def test_features_equal_openmmlab_swin(library, size):
    """mmdet/mmseg always shift (pad first): our fit_window_to_map=False mode, any size."""
    ref = _openmmlab_swin(library)
    ours = SwinTransformer('tiny', drop_path_rate=0.0, fit_window_to_map=False).eval()
    missing, unexpected = ours.load_state_dict(convert(ref.state_dict(), ours, library), strict=True)
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        errors = feature_mismatch(ours(x), ref(x))
    assert max(errors) <= 1e-4, errors


def test_absolute_position_embedding_converts_from_mmdet():
    ref = _openmmlab_swin('mmdet', use_abs_pos_embed=True)
    with torch.no_grad():
        ref.absolute_pos_embed.normal_(std=0.5)
    ours = SwinTransformer('tiny', drop_path_rate=0.0, fit_window_to_map=False,
                           use_abs_pos_embed=True).eval()
    ours.load_state_dict(convert(ref.state_dict(), ours, 'mmdet'), strict=True)
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        assert max(feature_mismatch(ours(x), ref(x))) <= 1e-4


def test_absolute_position_embedding_resizes_to_any_input():
    model = SwinTransformer('tiny', use_abs_pos_embed=True, out_indices=(0, )).eval()
    with torch.no_grad():
        (feat, ) = model(torch.rand(1, 3, 97, 131))
    assert feat.shape == (1, 96, 25, 33)


def test_official_checkpoint_layout_converts(tmp_path):
    """Microsoft's layout (downsample at the end of a stage) equals timm's after conversion."""
    import re
    import timm
    ref = timm.create_model('swin_tiny_patch4_window7_224', pretrained=False, num_classes=0)
    official = {re.sub(r'^layers\.(\d+)\.downsample',
                       lambda m: f'layers.{int(m.group(1)) - 1}.downsample', k): v
                for k, v in ref.state_dict().items()}
    official['layers.0.blocks.1.attn_mask'] = torch.zeros(64, 49, 49)  # stored by the official code
    assert 'layers.0.downsample.reduction.weight' in official
    from_official = convert(official, 'swin_tiny_patch4_window7_224', 'official')
    from_timm = convert(ref.state_dict(), 'swin_tiny_patch4_window7_224', 'timm')
    assert from_official.keys() == from_timm.keys()
    assert all(torch.equal(from_official[k], from_timm[k]) for k in from_timm)


def test_window_rule_only_changes_maps_no_larger_than_the_window():
    """At 224 the last map is 7x7, the window's size: timm (and the official classification
    code) do not shift there, mmdet does. The two modes agree everywhere else."""
    fit = mmbackbones.build_backbone('swin_tiny_patch4_window7_224', drop_path_rate=0.0).eval()
    always_shift = mmbackbones.build_backbone('swin_tiny_patch4_window7_224', drop_path_rate=0.0,
                                              fit_window_to_map=False).eval()
    always_shift.load_state_dict(fit.state_dict())
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        a, b = fit(x), always_shift(x)
    for level in range(3):
        torch.testing.assert_close(a[level], b[level])
    assert not torch.allclose(a[3], b[3], atol=1e-3)


def test_bias_cache_follows_weight_updates():
    model = SwinTransformer('tiny', drop_path_rate=0.0, out_indices=(0, )).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        before = model(x)[0]
    with torch.no_grad():
        model.stages[0].blocks[1].attn.relative_position_bias_table.add_(1.0)
    with torch.inference_mode():
        after = model(x)[0]
    assert not torch.allclose(before, after)
    # and a cached eval pass followed by training still backpropagates
    model.train()
    model(x)[0].sum().backward()
    assert model.stages[0].blocks[1].attn.relative_position_bias_table.grad is not None


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match='drop_path_rate'):
        SwinTransformer('tiny', drop_path_rate=1.5)
    with pytest.raises(ValueError, match=r"arch dict lacks \['num_heads'\]"):
        SwinTransformer(dict(embed_dims=96, depths=(2, 2, 6, 2)))
    with pytest.raises(ValueError, match='out_indices'):
        SwinTransformer('tiny', out_indices=(4, ))


def test_training_after_inference_mode_at_the_same_size():
    """The cached relative-position index outlives torch.inference_mode(): it must be a normal
    tensor, or a later training step at the same window size cannot save it for backward."""
    model = mmbackbones.build_backbone('swin_tiny_patch4_window7_224')
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        model.eval()
        model(x)
    model.train()
    sum(o.mean() for o in model(x)).backward()
    assert model.patch_embed.proj.weight.grad is not None
