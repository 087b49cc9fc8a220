"""Re-parameterisation: the RepVGG block, and YOLOv6's EfficientRep / CSPBep and PP-YOLOE's
CSPRepResNet in deploy form.

Truths: the training form of the same weights (deploy must compute the same function), and
mmyolo's classes after their own ``switch_to_deploy`` (the weight parity of the training form
is the registry-wide battery's, ``tests/test_every_variant.py``).
"""
import io

import pytest
import torch
import torch.nn as nn

from mmbackbones.models.layers.repvgg import RepVGGBlock, switch_to_deploy
from mmbackbones.registry import MODELS
from mmbackbones.zoo import get_variant

SIZES = ((64, 96), (72, 104))  # the second: no side a multiple of 32


def _randomise_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so that folding them is
    exercised (fresh BNs are the identity)."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    return model


def _deployed_copy(model: nn.Module) -> nn.Module:
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return switch_to_deploy(torch.load(buffer, weights_only=False))


def _run(model, x):
    with torch.no_grad():
        out = model(x)
    return out if isinstance(out, (tuple, list)) else (out, )


def _assert_close(a, b, atol=1e-4):
    """float32, atol 1e-4; with rtol 1e-5 too, because deep stacks with random BatchNorm
    statistics reach activations of ~100, where float32 rounding alone is ~1e-5 — and that
    rounding reaches every element of the level, small ones included: atol at least 1e-5 of the
    level's largest value (a wrong fold differs by the order of that value)."""
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        scale = float(v.abs().max()) if v.numel() else 0.0
        torch.testing.assert_close(u, v, atol=max(atol, 1e-5 * scale), rtol=1e-5)


# ---------------------------------------------------------------- the RepVGG block
@pytest.mark.parametrize('in_ch,out_ch,stride,groups,use_alpha', [
    (8, 8, 1, 1, False),   # all three branches
    (8, 16, 2, 1, False),  # no identity branch
    (8, 8, 1, 4, True),    # grouped, identity, learned 1x1 scale
])
def test_repvgg_block_deploy_form_computes_the_training_form(in_ch, out_ch, stride, groups,
                                                            use_alpha):
    torch.manual_seed(0)
    block = _randomise_norms(RepVGGBlock(in_ch, out_ch, stride=stride, groups=groups,
                                         use_alpha=use_alpha)).eval()
    if use_alpha:
        block.alpha.data.fill_(0.7)
    deployed = _deployed_copy(block)
    for size in SIZES:
        x = torch.randn(2, in_ch, *size)
        _assert_close(_run(deployed, x), _run(block, x))
    convs = [m for m in deployed.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 and convs[0].kernel_size == (3, 3) and convs[0].bias is not None
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deployed.modules())
    # idempotent: a second switch changes nothing
    before = {k: v.clone() for k, v in deployed.state_dict().items()}
    deployed.switch_to_deploy()
    assert all(torch.equal(before[k], v) for k, v in deployed.state_dict().items())


def test_repvgg_block_deployed_weights_load_into_a_block_built_deployed():
    block = _randomise_norms(RepVGGBlock(8, 8)).eval()
    deployed = _deployed_copy(block)
    fresh = RepVGGBlock(8, 8, deploy=True).eval()
    fresh.load_state_dict(deployed.state_dict())  # strict
    x = torch.randn(1, 8, 20, 20)
    _assert_close(_run(fresh, x), _run(block, x))


def test_repvgg_block_rejects_what_it_cannot_fuse():
    with pytest.raises(ValueError, match='kernel_size'):
        RepVGGBlock(8, 8, kernel_size=5, padding=2)
    with pytest.raises(ValueError, match='use_se'):
        RepVGGBlock(8, 8, use_se=True)
    with pytest.raises(ValueError, match='groups'):
        RepVGGBlock(8, 6, groups=4)


# ------------------------------------------------------------------ the backbones
def _build(name: str, **overrides) -> nn.Module:
    model = MODELS.build(get_variant(name).build_cfg(out_indices=(0, 1, 2, 3, 4), **overrides))
    return _randomise_norms(model).eval()


@pytest.mark.parametrize('name', ['efficientrep_n', 'cspresnet_s_plus'])
def test_deploy_form_is_equivalent_smaller_and_reloads(name):
    model = _build(name)
    deployed = _deployed_copy(model)
    for size in SIZES:
        x = torch.rand(1, 3, *size)
        _assert_close(_run(deployed, x), _run(model, x))
    assert len(list(deployed.modules())) < len(list(model.modules()))
    assert sum(p.numel() for p in deployed.parameters()) < sum(
        p.numel() for p in model.parameters())
    # a deployed checkpoint loads (strictly) into another deployed instance and still works
    other = switch_to_deploy(_build(name))
    other.load_state_dict(deployed.state_dict())
    x = torch.rand(1, 3, *SIZES[1])
    _assert_close(_run(other, x), _run(model, x))


def _mmyolo_pair(name: str):
    pytest.importorskip('mmyolo')
    from mmbackbones.references import build_reference
    from mmbackbones.weights import convert
    ref = build_reference(name, 'mmyolo')
    _randomise_norms(ref.model, seed=1).eval()
    ours = _build(name)
    ours.load_state_dict(convert(ref.model.state_dict(), ours, 'mmyolo'))
    return ours, ref


@pytest.mark.parametrize('name', [
    'efficientrep_n',
    pytest.param('efficientrep_t', marks=pytest.mark.slow),
    pytest.param('efficientrep_s', marks=pytest.mark.slow),
    pytest.param('cspbep_m', marks=pytest.mark.slow),
    pytest.param('cspbep_l', marks=pytest.mark.slow),
    'cspresnet_s_plus',
    pytest.param('cspresnet_s', marks=pytest.mark.slow),
    pytest.param('cspresnet_m_plus', marks=pytest.mark.slow),
])
def test_deploy_form_equals_mmyolo_deploy_form(name):
    ours, ref = _mmyolo_pair(name)
    for block in ours.modules():  # mmyolo's deploy form fuses the RepVGG blocks only
        if isinstance(block, RepVGGBlock):
            block.switch_to_deploy()
    switch_to_deploy(ref.model)  # mmyolo's own RepVGGBlock.switch_to_deploy
    # the deployed layouts are the same: mmyolo's deployed weights load into ours
    assert set(ours.state_dict()) == set(ref.model.state_dict())
    inputs = [torch.rand(1, 3, *size) for size in SIZES]
    for x in inputs:
        _assert_close(_run(ours, x), tuple(ref.levels(x)))
    ours.switch_to_deploy()  # the backbone's: every other BatchNorm folded too
    for x in inputs:
        _assert_close(_run(ours, x), tuple(ref.levels(x)))


def test_cspsppf_equals_mmyolo():
    """YOLOv6 3.0's CSP-SPPF (no zoo row: only the v3 configs use it)."""
    pytest.importorskip('mmyolo')
    from mmbackbones.references import build_openmmlab
    cfg = dict(deepen_factor=0.33, widen_factor=0.25, use_cspsppf=True)
    ref = _randomise_norms(build_openmmlab(dict(type='YOLOv6EfficientRep', **cfg), 'mmyolo'))
    ours = MODELS.build(dict(type='mmbackbones.YOLOv6EfficientRep', **cfg))
    ours.load_state_dict(ref.state_dict())
    ours.eval(), ref.eval()  # (mmyolo's train() returns None)
    x = torch.rand(1, 3, *SIZES[1])
    _assert_close(_run(ours, x), _run(ref, x), atol=1e-5)


@pytest.mark.parametrize('factors,params', [
    # mmyolo's YOLOv6CSPBep with its default block_cfg (ConvWrapper, no norm) and the
    # factors of YOLOv6-m and -l: mmyolo 0.6's parameter counts
    (dict(deepen_factor=0.6, widen_factor=0.75, hidden_ratio=2. / 3,
          act_cfg=dict(type='ReLU', inplace=True)), 23473708),
    (dict(deepen_factor=1.0, widen_factor=1.0, hidden_ratio=0.5,
          act_cfg=dict(type='SiLU', inplace=True)), 38460949),
])
def test_cspbep_with_the_default_block_matches_mmyolo_parameter_count(factors, params):
    with torch.device('meta'):
        model = MODELS.build(dict(type='mmbackbones.YOLOv6CSPBep', **factors))
    assert sum(p.numel() for p in model.parameters()) == params


def test_bad_backbone_arguments_are_refused():
    with pytest.raises(ValueError, match='block_cfg type'):
        MODELS.build(dict(type='mmbackbones.YOLOv6EfficientRep', block_cfg=dict(type='Conv')))
    with pytest.raises(ValueError, match='arch'):
        MODELS.build(dict(type='mmbackbones.YOLOv6CSPBep', arch='P6'))


# ------------------------------------------------------------------------ the neck
def test_yolov6_rep_pafpn_equals_mmyolo_in_both_forms():
    """YOLOv6-n's neck (mmyolo's config values) against mmyolo's YOLOv6RepPAFPN."""
    pytest.importorskip('mmyolo')
    from mmbackbones.references import build_openmmlab
    cfg = dict(in_channels=[256, 512, 1024], out_channels=[128, 256, 512],
               deepen_factor=0.33, widen_factor=0.25, num_csp_blocks=12)
    ref = _randomise_norms(build_openmmlab(dict(type='YOLOv6RepPAFPN', **cfg), 'mmyolo'))
    ours = MODELS.build(dict(type='mmbackbones.YOLOv6RepPAFPN', **cfg))
    ours.load_state_dict(ref.state_dict())  # strict: mmyolo's keys
    ours.eval(), ref.eval()
    assert ours.out_channels == (32, 64, 128)
    for h, w in ((64, 96), (96, 160)):  # a PAN needs even maps below stride 32
        inputs = [torch.rand(1, c, h // s, w // s)
                  for c, s in zip((64, 128, 256), (8, 16, 32))]
        _assert_close(_run(ours, inputs), _run(ref, inputs), atol=1e-5)
    for block in ours.modules():  # mmyolo's deploy form fuses the RepVGG blocks only
        if isinstance(block, RepVGGBlock):
            block.switch_to_deploy()
    switch_to_deploy(ref)
    assert set(ours.state_dict()) == set(ref.state_dict())
    # random BatchNorms compound through the neck's 12 RepVGG stages to outputs of ~1e4, where
    # float32 rounding of the fused kernels alone is ~1e-2: compare relative to the scale
    # (mmyolo's own deploy form differs from its training form by the same amount)
    deployed, reference = _run(ours, inputs), _run(ref, inputs)
    for a, b in zip(deployed, reference):
        torch.testing.assert_close(a, b, atol=1e-5 * float(b.abs().max()), rtol=0)
