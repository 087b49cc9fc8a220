"""EfficientNet and EfficientNetV2 beyond the registry-wide battery.

Truths: the per-size tables of the EfficientNet reference code (as mmdet 2.x pasted them), mmdet's
EfficientNet itself (freezing), timm's models (checkpoints of another size), the papers' level
tables.
"""
import pytest
import torch

import mmbackbones
from mmbackbones.models.backbones import EfficientNet, EfficientNetV2
from mmbackbones.weights import PretrainedMismatchError, convert

from . import helpers
from .helpers import feature_mismatch, randomise

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope

# Stage depths and widths of B0-B5 as the TensorFlow reference code computes them, pasted per
# size in mmdet 2.x's EfficientNet: our compound scaling of the B0 table must give them.
REFERENCE_TABLES = {
    'b0': ((1, 2, 2, 3, 3, 4, 1), (16, 24, 40, 80, 112, 192, 320)),
    'b1': ((2, 3, 3, 4, 4, 5, 2), (16, 24, 40, 80, 112, 192, 320)),
    'b2': ((2, 3, 3, 4, 4, 5, 2), (16, 24, 48, 88, 120, 208, 352)),
    'b3': ((2, 3, 3, 5, 5, 6, 2), (24, 32, 48, 96, 136, 232, 384)),
    'b4': ((2, 4, 4, 6, 6, 8, 2), (24, 32, 56, 112, 160, 272, 448)),
    'b5': ((3, 5, 5, 7, 7, 9, 3), (24, 40, 64, 128, 176, 304, 512)),
}


@pytest.mark.parametrize('arch', sorted(REFERENCE_TABLES))
def test_compound_scaling_gives_the_reference_tables(arch):
    stages, _, _ = EfficientNet.scaled_stages(EfficientNet.arch_settings[arch])
    depths, widths = REFERENCE_TABLES[arch]
    assert tuple(s.repeats for s in stages) == depths
    assert tuple(s.channels for s in stages) == widths


def test_level_tables_and_default_out_indices():
    with torch.device('meta'):
        b3 = EfficientNet(arch='b3')
        v2s, v2m = EfficientNetV2(arch='s'), EfficientNetV2(arch='m')
    # mmdet's RetinaNet-EfficientNet-B3 neck takes [48, 136, 384] from out_indices (3, 4, 5)
    assert b3.out_indices == (3, 4, 5) and b3.out_channels == (48, 136, 384)
    assert b3.level_strides == (2, 2, 4, 8, 16, 32, 32) and b3.level_channels[-1] == 1536
    # the paper's Table 4: stages of S at strides 2, 4, 8, 16, 16, 32, then the 1x1 conv
    assert v2s.level_channels == (24, 24, 48, 64, 128, 160, 256, 1280)
    assert v2s.level_strides == (2, 2, 4, 8, 16, 16, 32, 32)
    assert v2s.out_indices == (3, 5, 6) and v2m.out_indices == (3, 5, 7)
    assert len(b3.layers) == 6  # the head conv is not built when no output needs it


@pytest.mark.parametrize('frozen_stages', [0, 1, 3])
def test_frozen_stages_freeze_what_mmdet_freezes(frozen_stages):
    """mmdet's EfficientNet freezes its first ``frozen_stages`` layers (layer 0: the stem)."""
    pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')
    from mmbackbones.references import build_openmmlab
    cfg = dict(type='EfficientNet', arch='b0', out_indices=(6, ), frozen_stages=frozen_stages)
    theirs = build_openmmlab(cfg, 'mmdet')  # not on meta: mmdet calls .item() while building
    with torch.device('meta'):
        ours = build_openmmlab(dict(cfg, type='mmbackbones.EfficientNet'), 'mmdet')
    frozen = []
    for model in (theirs, ours):
        model.train()
        frozen.append(sum(p.numel() for p in model.parameters() if not p.requires_grad))
    assert frozen[0] == frozen[1]
    assert (frozen[1] == 0) == (frozen_stages == 0)


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match=r"arch='es'.*valid values.*'b0'"):
        EfficientNet(arch='es')  # mmdet's EdgeTPU variants are not implemented
    with pytest.raises(ValueError, match='drop_path_rate'):
        EfficientNetV2(arch='s', drop_path_rate=1.5)
    with pytest.raises(ValueError, match='Swish takes no options'):
        EfficientNet(act_cfg=dict(type='Swish', inplace=True))


def test_checkpoint_of_another_size_is_refused():
    timm = pytest.importorskip('timm')
    with torch.device('meta'):
        b1 = timm.create_model('efficientnet_b1', pretrained=False)
    with pytest.raises(PretrainedMismatchError, match='another size'):
        convert(b1.state_dict(), 'efficientnet_b0', source='timm')


def test_tensorflow_padding_is_another_function():
    """The TensorFlow rows and the PyTorch rows share the weights' shapes, not the function:
    TensorFlow pads a strided conv only after the input when the stride divides it (even
    sizes), where PyTorch pads both sides, and differently again at odd sizes."""
    tf_row = mmbackbones.build_backbone('tf_efficientnet_b0', out_indices=(2, )).eval()
    randomise(tf_row, every_parameter=True)
    torch_row = mmbackbones.build_backbone('efficientnet_b0', out_indices=(2, ),
                                           norm_cfg=dict(type='BN', eps=1e-3)).eval()
    torch_row.load_state_dict(tf_row.state_dict())
    for size in ((64, 64), (63, 65)):
        x = torch.rand(1, 3, *size)
        with torch.no_grad():
            assert feature_mismatch(torch_row(x), tf_row(x))[0] > 0.05, size
