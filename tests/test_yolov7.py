"""YOLOv7's backbone beyond the registry-wide battery: sizes that are not multiples of the
largest stride (mmyolo's max-pools floor and its MP blocks then fail; ours keep ceil(H / s))."""
import math

import pytest
import torch

import mmbackbones  # noqa: F401  (registers the families)
from mmbackbones.registry import MODELS


@pytest.mark.parametrize('arch', ['Tiny', 'L'])
def test_odd_sizes_give_ceil_sized_levels(arch):
    model = MODELS.build(dict(type='mmbackbones.YOLOv7Backbone', arch=arch,
                              widen_factor=0.125)).eval()
    size = (72, 104)  # stride-8 map 9x13: odd below
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *size))
    for out, stride, channels in zip(outs, model.out_strides, model.out_channels):
        assert out.shape[1:] == (channels, math.ceil(size[0] / stride),
                                 math.ceil(size[1] / stride))


def test_mmyolo_cannot_run_these_sizes():
    """Why the parity sizes of the YOLOv7 rows are multiples of 32 (P6: 64)."""
    pytest.importorskip('mmyolo')
    from mmbackbones.references import build_openmmlab
    ref = build_openmmlab(dict(type='YOLOv7Backbone', arch='L', widen_factor=0.125), 'mmyolo')
    ref.eval()
    with pytest.raises(RuntimeError), torch.no_grad():
        ref(torch.rand(1, 3, 72, 104))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='arch'):
        MODELS.build(dict(type='mmbackbones.YOLOv7Backbone', arch='M'))
    with pytest.raises(ValueError, match='input_channels'):
        MODELS.build(dict(type='mmbackbones.YOLOv7Backbone', input_channels=4))
