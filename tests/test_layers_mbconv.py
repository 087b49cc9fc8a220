"""The shared MobileNet / EfficientNet blocks: MBConv, Fused-MBConv, squeeze-excite, TensorFlow
'SAME' padding, channel rounding.

Truths are independent of the modules under test: the papers' formulas written out with
``torch.nn.functional``, TensorFlow's documented padding example, PyTorch's own ``'same'``
padding (stride 1), and the channel table of the EfficientNet reference code.
"""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmbackbones.models.layers import (Conv2dSame, FusedMBConv, InvertedResidual, SqueezeExcite,
                                       create_conv2d, make_divisible_mobilenet, same_pad_amounts)

from .helpers import randomise

SWISH = dict(type='SiLU')


def _randomised(module: nn.Module, seed: int = 0) -> nn.Module:
    randomise(module, seed=seed, every_parameter=True)
    return module.eval()


def _bn(x, norm):
    return F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False,
                        0.0, norm.eps)


def _conv_bn(x, unit, act=None, padding=0):
    """One conv + BN (+ act) written out; ``padding`` symmetric."""
    conv = unit.conv
    y = F.conv2d(x, conv.weight, conv.bias, conv.stride, padding, conv.dilation, conv.groups)
    y = _bn(y, unit.norm)
    return y if act is None else act(y)


def _se_formula(x, se, act, gate):
    """x * gate(W2 act(W1 mean(x) + b1) + b2) (Hu et al. 2018)."""
    pooled = x.mean((2, 3))  # (N, C)
    hidden = act(pooled @ se.conv_reduce.weight.flatten(1).t() + se.conv_reduce.bias)
    scale = gate(hidden @ se.conv_expand.weight.flatten(1).t() + se.conv_expand.bias)
    return x * scale[:, :, None, None]


# --------------------------------------------------------------- make_divisible_mobilenet
# EfficientNet-B0's stage widths scaled by B2's (1.1) and B3's (1.2) width multipliers, and the
# widths the TensorFlow reference code's round_filters gives them (the B2/B3 networks).
B0_WIDTHS = (32, 16, 24, 40, 80, 112, 192, 320, 1280)
ROUNDED = {1.1: (32, 16, 24, 48, 88, 120, 208, 352, 1408),
           1.2: (40, 24, 32, 48, 96, 136, 232, 384, 1536)}


@pytest.mark.parametrize('multiplier', sorted(ROUNDED))
def test_make_divisible_gives_the_reference_widths(multiplier):
    assert tuple(make_divisible_mobilenet(w * multiplier) for w in B0_WIDTHS) == ROUNDED[multiplier]


def test_make_divisible_never_loses_more_than_ten_percent():
    for value in torch.arange(1.0, 400.0, 0.37).tolist():
        rounded = make_divisible_mobilenet(value)
        assert rounded % 8 == 0 and rounded >= 8
        assert rounded >= 0.9 * value
        assert abs(rounded - value) <= 8  # the nearest multiple, or the next one up
    assert make_divisible_mobilenet(19.2) == 24  # 16 would lose 17%
    assert make_divisible_mobilenet(3, divisor=4, min_value=16) == 16


# ---------------------------------------------------------------------------- same padding
def test_same_padding_matches_tensorflows_documented_example():
    # TensorFlow's convolution docs: input 13, filter 6, stride 5 -> 3 outputs, pad 1 + 2.
    assert same_pad_amounts(13, 6, 5) == (1, 2)
    # odd total: the extra pixel goes after (bottom / right); none where the stride divides
    assert same_pad_amounts(8, 3, 2) == (0, 1)
    assert same_pad_amounts(7, 3, 2) == (1, 1)
    assert same_pad_amounts(224, 5, 2) == (1, 2)
    assert same_pad_amounts(9, 3, 1, dilation=2) == (2, 2)


@pytest.mark.parametrize('size,kernel,stride,dilation', [
    (13, 6, 5, 1), (8, 3, 2, 1), (9, 5, 2, 1), (10, 3, 2, 2), (11, 4, 1, 1), (12, 2, 1, 3)])
def test_same_padding_equals_tf_arithmetic(size, kernel, stride, dilation):
    """Output size ceil(n / s), and the output equals a conv over the input padded by
    TensorFlow's formula (pad = max((ceil(n/s) - 1) * s + (k - 1) * d + 1 - n, 0), the odd
    pixel after) written out here."""
    torch.manual_seed(0)
    conv = create_conv2d(3, 4, kernel, stride, dilation, padding='same')
    x = torch.randn(2, 3, size, size + 3)

    def tf_pad(n):
        total = max((math.ceil(n / stride) - 1) * stride + (kernel - 1) * dilation + 1 - n, 0)
        return total // 2, total - total // 2

    (top, bottom), (left, right) = tf_pad(size), tf_pad(size + 3)
    expected = F.conv2d(F.pad(x, (left, right, top, bottom)), conv.weight, None, stride, 0,
                        dilation)
    out = conv(x)
    assert out.shape[-2:] == (math.ceil(size / stride), math.ceil((size + 3) / stride))
    torch.testing.assert_close(out, expected)
    if stride == 1:  # PyTorch's own 'same' (stride 1 only) is TensorFlow's
        torch.testing.assert_close(out, F.conv2d(x, conv.weight, None, 1, 'same', dilation))


def test_same_padding_uses_a_plain_conv_where_it_is_static():
    assert type(create_conv2d(8, 8, 3, 1, padding='same')) is nn.Conv2d
    assert isinstance(create_conv2d(8, 8, 3, 2, padding='same'), Conv2dSame)
    assert isinstance(create_conv2d(8, 8, 2, 1, padding='same'), Conv2dSame)  # even kernel
    adaptive = create_conv2d(8, 8, 3, 2, conv_cfg=dict(type='Conv2dAdaptivePadding'))
    assert isinstance(adaptive, Conv2dSame)
    with pytest.raises(ValueError, match='padding'):
        create_conv2d(8, 8, 3, padding='valid')


def test_same_padding_equals_mmcvs_adaptive_padding_conv():
    cnn = pytest.importorskip('mmcv.cnn')
    torch.manual_seed(0)
    theirs = cnn.build_conv_layer(dict(type='Conv2dAdaptivePadding'), 3, 4, 3, stride=2)
    ours = create_conv2d(3, 4, 3, 2, padding='same')
    ours.load_state_dict({'weight': theirs.weight}, strict=False)
    with torch.no_grad():
        ours.bias = None
        theirs.bias = None
        x = torch.randn(1, 3, 15, 20)
        torch.testing.assert_close(ours(x), theirs(x))


# ---------------------------------------------------------------------------------- SE
@pytest.mark.parametrize('act_cfg,act,gate_cfg,gate', [
    (SWISH, F.silu, dict(type='Sigmoid'), torch.sigmoid),  # EfficientNet
    (dict(type='ReLU'), F.relu, dict(type='Sigmoid'), torch.sigmoid),  # RegNetY
    # MobileNetV3 (timm, torchvision: relu6(x + 3) / 6); OpenMMLab spells the values out
    (dict(type='ReLU'), F.relu, dict(type='HSigmoid', bias=3.0, divisor=6.0),
     lambda t: F.relu6(t + 3) / 6),
    (dict(type='ReLU'), F.relu, dict(type='HSigmoid'), lambda t: F.relu6(t + 3) / 6),
])
def test_squeeze_excite_is_the_formula(act_cfg, act, gate_cfg, gate):
    se = _randomised(SqueezeExcite(16, 4, act_cfg=act_cfg, gate_cfg=gate_cfg))
    x = torch.randn(2, 16, 5, 7) * 3
    with torch.no_grad():
        torch.testing.assert_close(se(x), _se_formula(x, se, act, gate))
    assert {n for n, _ in se.named_children()} == {'conv_reduce', 'act', 'conv_expand', 'gate'}
    assert se.conv_reduce.bias is not None and se.conv_expand.bias is not None


def test_squeeze_excite_hard_sigmoid_with_other_values_is_mmcvs():
    pytest.importorskip('mmcv.cnn')
    se = _randomised(SqueezeExcite(8, 4, gate_cfg=dict(type='HSigmoid', bias=1.0, divisor=2.0)))
    x = torch.randn(2, 8, 3, 3) * 3
    with torch.no_grad():
        expected = _se_formula(x, se, F.relu, lambda t: ((t + 1) / 2).clamp(0, 1))
        torch.testing.assert_close(se(x), expected)


def test_squeeze_excite_refuses_bad_arguments():
    with pytest.raises(ValueError, match='squeeze_channels'):
        SqueezeExcite(8, 0)
    with pytest.raises(TypeError, match='gate_cfg'):
        SqueezeExcite(8, 2, gate_cfg='sigmoid')
    with pytest.raises(ValueError, match='unknown keys'):
        SqueezeExcite(8, 2, gate_cfg=dict(type='HSigmoid', offset=3))


# ----------------------------------------------------------------------------- MBConv
def _mbconv_formula(x, block, act, kernel, stride, dilation, with_se):
    """MBConv written out: 1x1 expand + BN + act, depthwise + BN + act, SE, 1x1 + BN (linear)."""
    out = x
    if block.expand_conv is not None:
        out = _conv_bn(out, block.expand_conv, act)
    out = _conv_bn(out, block.depthwise_conv, act, padding=dilation * (kernel - 1) // 2)
    if with_se:
        out = _se_formula(out, block.se, act, torch.sigmoid)
    out = _conv_bn(out, block.project_conv)  # no activation
    return out + x if stride == 1 and x.shape[1] == out.shape[1] else out


MBCONV_CASES = {
    # id: (in, out, mid, kernel, stride, dilation, se)
    'expand-residual': (16, 16, 96, 3, 1, 1, True),
    'expand-stride2': (16, 24, 96, 5, 2, 1, True),
    'no-expand': (32, 16, 32, 3, 1, 1, True),  # EfficientNet's first stage
    'no-expand-residual': (16, 16, 16, 3, 1, 1, False),
    'dilated': (24, 24, 144, 3, 1, 2, False),
    'wider-out': (16, 32, 64, 3, 1, 1, False),  # stride 1 but channels change: no residual
}


@pytest.mark.parametrize('case', sorted(MBCONV_CASES))
def test_inverted_residual_is_mbconv(case):
    cin, cout, mid, kernel, stride, dilation, with_se = MBCONV_CASES[case]
    se_cfg = dict(squeeze_channels=max(1, cin // 4), act_cfg=SWISH) if with_se else None
    block = _randomised(InvertedResidual(cin, cout, mid, kernel, stride, dilation, se_cfg=se_cfg,
                                         act_cfg=SWISH, drop_path_rate=0.2))
    x = torch.randn(2, cin, 11, 9)
    with torch.no_grad():
        out = block(x)
        expected = _mbconv_formula(x, block, F.silu, kernel, stride, dilation, with_se)
    assert out.shape == (2, cout, math.ceil(11 / stride), math.ceil(9 / stride))
    torch.testing.assert_close(out, expected)
    assert (block.expand_conv is None) == (mid == cin)
    assert block.has_residual == (stride == 1 and cin == cout)
    assert (block.drop_path is not None) == block.has_residual
    assert block.project_conv.act is None


def test_projection_has_no_activation():
    """With a projection BN shifted far negative, the block's output is negative: no ReLU,
    SiLU or any other activation follows the projection."""
    block = _randomised(InvertedResidual(8, 16, 32, act_cfg=dict(type='ReLU')))
    with torch.no_grad():
        block.project_conv.norm.bias.fill_(-100.0)
        assert (block(torch.randn(1, 8, 6, 6)) < 0).all()


def test_inverted_residual_same_padding_matches_tf_arithmetic():
    block = _randomised(InvertedResidual(8, 8, 48, 5, 2, padding='same', act_cfg=SWISH))
    x = torch.randn(1, 8, 10, 9)
    with torch.no_grad():
        mid = _conv_bn(x, block.expand_conv, F.silu)
        dw = block.depthwise_conv
        (top, bottom), (left, right) = same_pad_amounts(10, 5, 2), same_pad_amounts(9, 5, 2)
        padded = F.pad(mid, (left, right, top, bottom))
        mid = F.silu(_bn(F.conv2d(padded, dw.conv.weight, None, 2, 0, 1, 48), dw.norm))
        expected = _conv_bn(mid, block.project_conv)
        torch.testing.assert_close(block(x), expected)


def test_drop_path_drops_whole_branches_in_training():
    block = _randomised(InvertedResidual(8, 8, 32, drop_path_rate=0.5))
    block.train()
    torch.manual_seed(0)
    x = torch.randn(64, 8, 4, 4)
    with torch.no_grad():
        out = block(x)
    dropped = (out - x).flatten(1).abs().amax(1) == 0
    assert 0 < dropped.sum() < 64  # some samples keep only their shortcut


# ------------------------------------------------------------------------- Fused-MBConv
@pytest.mark.parametrize('cin,cout,mid,stride,se', [
    (24, 24, 96, 1, False), (24, 48, 96, 2, False), (32, 32, 128, 1, True)])
def test_fused_mbconv_is_the_formula(cin, cout, mid, stride, se):
    se_cfg = dict(squeeze_channels=cin // 4, act_cfg=SWISH) if se else None
    block = _randomised(FusedMBConv(cin, cout, mid, 3, stride, se_cfg=se_cfg, act_cfg=SWISH))
    x = torch.randn(2, cin, 9, 10)
    with torch.no_grad():
        out = _conv_bn(x, block.fused_conv, F.silu, padding=1)
        if se:
            out = _se_formula(out, block.se, F.silu, torch.sigmoid)
        out = _conv_bn(out, block.project_conv)
        expected = out + x if stride == 1 and cin == cout else out
        torch.testing.assert_close(block(x), expected)
    assert block.project_conv.act is None
    assert block.has_residual == (stride == 1 and cin == cout)


@pytest.mark.parametrize('cin,cout', [(24, 24), (32, 16)])
def test_fused_mbconv_without_expansion_is_one_conv_with_activation(cin, cout):
    block = _randomised(FusedMBConv(cin, cout, cin, 3, act_cfg=SWISH))
    assert block.project_conv is None and block.fused_conv.act is not None
    x = torch.randn(2, cin, 7, 8)
    with torch.no_grad():
        out = _conv_bn(x, block.fused_conv, F.silu, padding=1)
        torch.testing.assert_close(block(x), out + x if cin == cout else out)
