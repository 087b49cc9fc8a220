"""HRNet beyond the registry-wide battery: the output forms (V1, V2, V2p neck), the fusions'
upsampling at sizes that are not multiples of 32, mmseg's freezing, the parameter count of
the OpenMMLab backbones and the ``extra`` / ``arch`` arguments."""
import pytest
import torch

import mmbackbones
from mmbackbones.references import build_openmmlab, build_ours_for, build_reference
from mmbackbones.weights import convert
from mmbackbones.zoo import get_variant, list_variants

from . import helpers
from .helpers import feature_mismatch, randomise

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope

ROW = 'hrnet_w18_small'
TOLERANCE = 1e-4
MISMATCHED = (97, 131)  # branch sizes 25x33, 13x17, 7x9, 4x5: never twice the next one


def _converted(source, row=ROW, **overrides):
    """(reference, ours with the reference's weights), both in eval mode."""
    ref = build_reference(row, source)
    randomise(ref.model)
    ours = build_ours_for(row, source) if not overrides else mmbackbones.build_backbone(
        row, **overrides)
    ours.load_state_dict(convert(ref.model.state_dict(), ours, source))
    return ref, ours.eval()


def test_fusions_at_mismatched_sizes_equal_mmsegs_two_step_resize():
    pytest.importorskip('mmseg')
    torch.manual_seed(0)
    ref, ours = _converted('mmseg')
    assert ours.upsample_mode == 'bilinear'  # built from mmseg's dict, as mmseg's runner
    x = torch.rand(2, 3, *MISMATCHED)
    with torch.no_grad():
        errors = feature_mismatch(ours(x), ref.levels(x))
    assert max(errors) <= TOLERANCE, errors


@pytest.mark.parametrize('source', ['timm', 'mmdet'])
def test_scale_factor_references_fail_where_ours_crops(source):
    """timm's and mmdet's nearest upsampling by the scale factor cannot add maps whose sizes
    are not exact multiples; ours crops the upsampled map and gives the reference's values
    wherever the reference is defined (inputs whose branch 0 is a multiple of 8)."""
    pytest.importorskip(source)
    torch.manual_seed(0)
    ref, ours = _converted(source)
    assert ours.upsample_mode == 'nearest'
    with torch.no_grad(), pytest.raises(RuntimeError, match='size'):
        ref.levels(torch.rand(1, 3, *MISMATCHED))
    with torch.no_grad():
        outs = ours(torch.rand(1, 3, *MISMATCHED))
    assert [tuple(o.shape[-2:]) for o in outs] == [(25, 33), (13, 17), (7, 9), (4, 5)]


def test_v1_is_mmdets_single_scale_output():
    """``output_form='v1'`` is mmdet's ``multiscale_output=False``: branch 0 only, the last
    module fusing into branch 0 only (and so without the other fusions' parameters)."""
    pytest.importorskip('mmdet')
    extra = get_variant(ROW).refs['mmdet']['extra']
    cfg = dict(type='HRNet', extra=extra, multiscale_output=False)
    ref = build_openmmlab(cfg, 'mmdet')
    ref.eval()  # not chained: mmdet's train() returns None
    randomise(ref)
    ours = build_openmmlab(dict(cfg, type='mmbackbones.HRNet'), 'mmdet').eval()
    assert ours.output_form == 'v1' and ours.out_channels == (16, ) and ours.out_strides == (4, )
    ours.load_state_dict(convert(ref.state_dict(), ours, 'mmdet'))
    assert (sum(p.numel() for p in ours.parameters())
            == sum(p.numel() for p in ref.parameters()))
    v1 = mmbackbones.build_backbone(ROW, output_form='v1').eval()
    v1.load_state_dict(ours.state_dict())
    x = torch.rand(2, 3, 128, 160)
    with torch.no_grad():
        expected = ref(x)
        assert len(expected) == 1
        for model in (ours, v1):
            assert max(feature_mismatch(model(x), expected)) <= TOLERANCE
    with pytest.raises(ValueError, match='out_indices'):
        mmbackbones.build_backbone(ROW, output_form='v1', out_indices=(1, ))


@pytest.mark.parametrize('size', [(128, 160), MISMATCHED])
def test_v2_concatenates_the_branches_as_mmsegs_resize_concat(size):
    """``output_form='v2'``: one map, every branch resized bilinearly to branch 0 and
    concatenated, which is what mmseg's heads do with ``input_transform='resize_concat'``."""
    pytest.importorskip('mmseg')
    from mmseg.models.decode_heads import FCNHead
    branches = mmbackbones.build_backbone(ROW).eval()
    randomise(branches)
    v2 = mmbackbones.build_backbone(ROW, output_form='v2').eval()
    v2.load_state_dict(branches.state_dict())
    assert v2.out_channels == (16 + 32 + 64 + 128, ) and v2.out_strides == (4, )
    head = FCNHead(in_channels=list(branches.out_channels), in_index=(0, 1, 2, 3),
                   channels=240, input_transform='resize_concat', num_classes=2,
                   align_corners=False)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        expected = head._transform_inputs(list(branches(x)))
        (ours, ) = v2(x)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected)
    with pytest.raises(ValueError, match='out_indices'):
        mmbackbones.build_backbone(ROW, output_form='v2', out_indices=(0, 1))


def test_v2p_neck_is_mmdets_hrfpn_and_takes_any_size():
    pytest.importorskip('mmdet')
    from mmdet.models.necks import HRFPN as MMDetHRFPN
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = dict(in_channels=[16, 32, 64, 128], out_channels=32)
    ours = MMDET_MODELS.build(dict(cfg, type='mmbackbones.HRFPN'))
    theirs = MMDetHRFPN(**cfg)
    assert isinstance(ours, MMDetHRFPN)  # reused by subclassing: same layers and init
    assert ours.out_channels == (32, ) * 5 and ours.out_strides == (4, 8, 16, 32, 64)
    randomise(theirs, every_parameter=True)
    ours.load_state_dict(theirs.state_dict())
    backbone = mmbackbones.build_backbone(ROW).eval()
    for size in ((128, 160), MISMATCHED):
        x = torch.rand(1, 3, *size)
        with torch.no_grad():
            feats = backbone(x)
            outs = ours(feats)
            assert [o.shape[1] for o in outs] == list(ours.out_channels)
            # level i: branch 0 (ceil(H / 4)) average-pooled 2**i times, floor-sized as mmdet
            branch0 = feats[0].shape[-2:]
            assert [tuple(o.shape[-2:]) for o in outs] == [
                (branch0[0] // 2**i, branch0[1] // 2**i) for i in range(5)]
            if size[0] % 32 == 0 and size[1] % 32 == 0:
                for a, b in zip(outs, theirs(feats)):
                    torch.testing.assert_close(a, b)


@pytest.mark.parametrize('frozen_stages', [0, 1, 2, 3, 4])
def test_frozen_stages_freeze_what_mmsegs_freeze(frozen_stages):
    pytest.importorskip('mmseg')
    cfg = dict(get_variant(ROW).refs['mmseg'], frozen_stages=frozen_stages)
    with torch.device('meta'):
        theirs = build_openmmlab(cfg, 'mmseg')
        ours = build_openmmlab(dict(cfg, type='mmbackbones.HRNet'), 'mmseg')
    theirs.train()
    ours.train()

    def frozen(model):
        names = {n for n, p in model.named_parameters() if not p.requires_grad}
        return {n.replace('.norm', '.bn') for n in names}
    assert frozen(ours) == frozen(theirs) and frozen(ours)


@pytest.mark.parametrize('name', [pytest.param(n, marks=[] if n == ROW else [pytest.mark.slow])
                                  for n in list_variants('hrnet*')])
def test_parameter_count_is_the_openmmlab_backbones(name):
    variant = get_variant(name)
    with torch.device('meta'):
        ours = mmbackbones.build_backbone(name)
    count = sum(p.numel() for p in ours.parameters())
    assert count == variant.params
    for source in ('mmdet', 'mmpretrain'):
        pytest.importorskip(source)
        with torch.device('meta'):
            ref = build_openmmlab(variant.refs[source], source)
        assert count == sum(p.numel() for p in ref.parameters()), source


def test_arch_is_a_shorthand_for_extra():
    extra = get_variant('hrnet_w32').refs['mmdet']['extra']
    with torch.device('meta'):
        by_arch = mmbackbones.MODELS.build(dict(type='mmbackbones.HRNet', arch='w32'))
        by_extra = mmbackbones.MODELS.build(dict(type='mmbackbones.HRNet', extra=extra))
        default = mmbackbones.MODELS.build(dict(type='mmbackbones.HRNet'))  # mmpretrain's w32
    shapes = [{k: v.shape for k, v in m.state_dict().items()}
              for m in (by_arch, by_extra, default)]
    assert shapes[0] == shapes[1] == shapes[2]
    assert by_arch.level_channels == (32, 64, 128, 256)


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='w33'), r"arch='w33'.*valid values"),
    (dict(extra=dict(stage1={})), 'extra.stage1 has keys'),
    (dict(arch='w18', extra='w18'), 'extra='),
    (dict(output_form='v3'), 'output_form'),
    (dict(upsample_mode='bicubic'), 'upsample_mode'),
    (dict(multiscale_output=False, output_form='v2'), 'multiscale_output'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        mmbackbones.MODELS.build(dict(type='mmbackbones.HRNet', **kwargs))


def test_extra_of_another_network_with_arch_is_refused():
    extra = get_variant('hrnet_w18').refs['mmdet']['extra']
    with pytest.raises(ValueError, match='give one of them'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.HRNet', arch='w32', extra=extra))
    bad = dict(extra, stage3=dict(extra['stage3'], num_branches=2))
    with pytest.raises(ValueError, match='stage 3 of HRNet has 3 branches'):
        mmbackbones.MODELS.build(dict(type='mmbackbones.HRNet', extra=bad))
