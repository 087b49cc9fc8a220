"""The registry-wide battery: every zoo row gets every check.

A family is covered by its zoo rows: weight parity runs against every reference a row lists
(timm, torchvision, mmdet, mmseg), built by :mod:`mmbackbones.references` from the row's ids.
Heavy variants are marked slow and run with `make test-all`.
"""
import importlib.util
import math

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

import mmbackbones
from mmbackbones.models.backbones import BaseBackbone
from mmbackbones.references import (OPENMMLAB_SOURCES, build_openmmlab, build_ours_for,
                                   build_reference, count_backbone_parameters,
                                   openmmlab_cfg)
from mmbackbones.weights import convert
from mmbackbones.zoo import get_variant, list_variants

from . import helpers
from .helpers import feature_mismatch, randomise

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope

PARITY_TOLERANCE = 1e-4  # max abs difference / reference feature scale
# torchvision's classification heads (ResNet/RegNet: fc; EfficientNet/MobileNet: classifier;
# Swin: head; ViT: heads), removed for a row whose only count reference is torchvision
TORCHVISION_HEADS = ('fc', 'classifier', 'head', 'heads')
# mmyolo (GPL-3.0) is the optional `yolo` extra: its references are skipped where it is absent.
HAS_MMYOLO = importlib.util.find_spec('mmyolo') is not None
NO_MMYOLO = pytest.mark.skipif(not HAS_MMYOLO, reason='mmyolo reference: needs the optional '
                               '`yolo` extra (pip install mmbackbones[yolo])')


def _params(with_source=False):
    cases = []
    for name in list_variants():
        variant = get_variant(name)
        marks = [pytest.mark.slow] if variant.slow else []
        if with_source:
            for source in variant.refs:
                extra = [NO_MMYOLO] if source == 'mmyolo' else []
                cases.append(pytest.param(name, source, marks=marks + extra,
                                          id=f'{name}-{source}'))
        else:
            cases.append(pytest.param(name, marks=marks, id=name))
    return cases


def _odd_size(variant):
    h, w = variant.test_input
    return h - 23, w + 9  # neither side a multiple of 2


def _no_drop(variant):
    """Overrides that make training forwards deterministic (no stochastic depth/dropout)."""
    return {k: 0.0 for k in ('drop_path_rate', 'drop_rate', 'attn_drop_rate') if k in variant.cfg
            or k in _init_args(variant)}


def _init_args(variant):
    import inspect
    cls = mmbackbones.MODELS.get(f'mmbackbones.{variant.family}')
    return inspect.signature(cls.__init__).parameters


@pytest.mark.parametrize('name', _params())
def test_forward_shapes_follow_out_strides(name):
    variant = get_variant(name)
    model = mmbackbones.build_backbone(name).eval()
    assert len(model.out_channels) == len(model.out_indices) == len(model.out_strides)
    h, w = _odd_size(variant)
    with torch.no_grad():
        feats = model(torch.rand(1, 3, h, w))
    assert isinstance(feats, tuple) and len(feats) == len(model.out_indices)
    for feat, channels, stride in zip(feats, model.out_channels, model.out_strides):
        assert feat.shape == (1, channels, math.ceil(h / stride), math.ceil(w / stride))


@pytest.mark.parametrize('name', _params())
def test_out_indices_are_validated(name):
    variant = get_variant(name)
    with torch.device('meta'):
        model = mmbackbones.build_backbone(name)
        levels = model.num_levels
        with pytest.raises(ValueError, match=r'out_indices.*valid indices are 0\.\.'):
            mmbackbones.build_backbone(name, out_indices=(0, levels))
        single = mmbackbones.build_backbone(name, out_indices=(levels - 1, ))
    assert single.out_channels == (model.level_channels[-1], )
    assert variant.family == type(model).__name__


@pytest.mark.parametrize('name', _params())
def test_parameter_count_matches_reference(name):
    variant = get_variant(name)
    with torch.device('meta'):
        model = mmbackbones.build_backbone(name, out_indices=(-1, ))
    ours = sum(p.numel() for p in model.parameters())
    assert ours == variant.params
    # the independent truth the zoo integer came from: timm, torchvision, else the OpenMMLab
    # reference; a row without a reference implementation (Darknet-19) carries the paper's count
    if not variant.refs:
        return
    if 'timm' in variant.refs:
        import timm
        source = 'timm'
        with torch.device('meta'):
            ref = timm.create_model(variant.refs['timm'], pretrained=False, num_classes=0)
        if getattr(ref, 'head_hidden_size', None) not in (None, ref.num_features):
            # a conv after the global pooling (MobileNetV3's "efficient head") is head, like
            # the classifier; timm's own pruning for feature extraction removes it
            ref.prune_intermediate_layers(prune_head=True)
    elif 'torchvision' in variant.refs:
        import torchvision
        source = 'torchvision'
        with torch.device('meta'):
            ref = torchvision.models.get_model(variant.refs['torchvision'], weights=None)
        for head in TORCHVISION_HEADS:
            if hasattr(ref, head):
                setattr(ref, head, torch.nn.Identity())
    else:
        source = next(s for s in OPENMMLAB_SOURCES if s in variant.refs)
        if source == 'mmyolo' and not HAS_MMYOLO:
            pytest.skip('the mmyolo reference needs the optional `yolo` extra '
                        '(pip install mmbackbones[yolo])')
        cfg = openmmlab_cfg(variant, source, out_indices=(model.num_levels - 1, ))
        try:
            with torch.device('meta'):
                ref = build_openmmlab(cfg, source)
        except RuntimeError:  # a constructor that reads tensor values (mmdet's PVT: .item())
            ref = build_openmmlab(cfg, source)
    assert ours == count_backbone_parameters(type(model), source, ref)


@pytest.mark.parametrize('name,source', _params(with_source=True))
def test_features_equal_reference_after_conversion(name, source):
    variant = get_variant(name)
    torch.manual_seed(0)
    for size in variant.parity_sizes:
        ref = build_reference(variant, source, size)
        randomise(ref.model)
        model = build_ours_for(variant, source).eval()
        state = convert(ref.model.state_dict(), model, source)
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert not unexpected, unexpected
        # Only per-level output norms that the classification reference lacks may be missing.
        assert all(k.split('.')[0].startswith('norm') for k in missing), missing
        x = torch.rand(2, 3, *size)
        with torch.no_grad():
            ours = model(x)
            reference = ref.levels(x)
            reference = [reference[i] for i in model.out_indices]
        errors = feature_mismatch(ours, reference)
        assert max(errors) <= PARITY_TOLERANCE, f'{size}: relative errors per level {errors}'
    if source in OPENMMLAB_SOURCES:
        # The OpenMMLab dict names the row's network: its weights load into the row's model.
        with torch.device('meta'):
            row = mmbackbones.build_backbone(name, out_indices=model.out_indices)
        assert ({k: v.shape for k, v in row.state_dict().items()}
                == {k: v.shape for k, v in model.state_dict().items()})


def _small_input(variant):
    h, w = variant.test_input
    return torch.rand(2, 3, max(h // 2, 64), max(w // 2, 64))


@pytest.mark.parametrize('name', _params())
def test_backward_reaches_every_parameter(name):
    variant = get_variant(name)
    model = mmbackbones.build_backbone(name).train()
    feats = model(_small_input(variant))
    sum(f.float().mean() for f in feats).backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, no_grad


def _bn_state(module):
    return {n: b.clone() for n, b in module.named_buffers() if 'running' in n}


@pytest.mark.parametrize('name', _params())
def test_frozen_stages_stop_gradients_and_statistics(name):
    variant = get_variant(name)
    # OpenMMLab's meaning: frozen_stages=k freezes the stem and the first k levels (families
    # whose OpenMMLab class counts from the stem's output, e.g. CSPDarknet: levels 0..k).
    model = mmbackbones.build_backbone(name, frozen_stages=2)
    model.train()  # freezing must survive train()
    offset = model.frozen_stages_offset
    frozen = list(model.stem_modules()) + [
        m for i in range(2 + offset) for m in model.level_modules(i)]
    frozen_params = {id(p) for m in frozen for p in m.parameters()} | {
        id(p) for p in model.stem_parameters()}
    assert frozen_params
    for param in model.parameters():
        assert param.requires_grad == (id(param) not in frozen_params)
    assert all(not m.training for f in frozen for m in f.modules())
    before = [_bn_state(m) for m in frozen]
    feats = model(_small_input(variant))
    sum(f.mean() for f in feats).backward()
    for m, stats in zip(frozen, before):
        for n, b in m.named_buffers():
            if n in stats:
                assert torch.equal(stats[n], b), f'{n} changed in a frozen stage'
    trainable = [p for m in model.level_modules(model.num_levels - 1) for p in m.parameters()]
    assert trainable and all(p.requires_grad and p.grad is not None for p in trainable)
    with pytest.raises(ValueError, match='frozen_stages'):
        mmbackbones.build_backbone(name, frozen_stages=model.num_levels + 1 - offset)
    with torch.device('meta'):
        stem_only = mmbackbones.build_backbone(name, frozen_stages=0)
        everything = mmbackbones.build_backbone(name, frozen_stages=model.num_levels - offset)
    stem_ids = {id(p) for m in stem_only.stem_modules() + [
        m for i in range(offset) for m in stem_only.level_modules(i)] for p in m.parameters()} | {
        id(p) for p in stem_only.stem_parameters()}
    if stem_only.stem_modules():
        assert stem_ids and all(p.requires_grad == (id(p) not in stem_ids)
                                for p in stem_only.parameters())
    else:  # the stem conv is level 0 (EfficientNet, as in OpenMMLab): 0 freezes nothing
        assert all(p.requires_grad for p in stem_only.parameters())
    last_level = {id(p) for m in everything.level_modules(everything.num_levels - 1)
                  for p in m.parameters()}
    assert last_level and not any(p.requires_grad for p in everything.parameters()
                                  if id(p) in last_level)


@pytest.mark.parametrize('name', _params())
def test_norm_eval_keeps_batchnorm_statistics(name):
    variant = get_variant(name)
    model = mmbackbones.build_backbone(name, norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert all(not m.training for m in norms)
    before = _bn_state(model)
    with torch.no_grad():
        model(_small_input(variant))
    after = _bn_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    # Without norm_eval, training updates the statistics (where the family has BatchNorm).
    plain = mmbackbones.build_backbone(name).train()
    if norms:
        stats = _bn_state(plain)
        with torch.no_grad():
            plain(_small_input(variant))
        assert any(not torch.equal(stats[k], v) for k, v in _bn_state(plain).items())


@pytest.mark.parametrize('name', _params())
def test_with_cp_gives_same_outputs_and_gradients(name):
    variant = get_variant(name)
    overrides = _no_drop(variant)
    torch.manual_seed(0)
    plain = mmbackbones.build_backbone(name, **overrides).train()
    checkpointed = mmbackbones.build_backbone(name, with_cp=True, **overrides).train()
    # load_state_dict copies the values, and each model keeps its own gradients: no copies
    # (the huge rows would need six times their parameters' memory, more than 16 GB)
    checkpointed.load_state_dict(plain.state_dict())
    x = _small_input(variant)
    outs = []
    for model in (plain, checkpointed):
        feats = model(x)
        sum((f * f).mean() for f in feats).backward()
        outs.append((feats, {n: p.grad for n, p in model.named_parameters()}))
    for a, b in zip(outs[0][0], outs[1][0]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    for n, g in outs[0][1].items():
        torch.testing.assert_close(g, outs[1][1][n], rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.parametrize('name', _params())
def test_layer_depth_covers_every_parameter_in_forward_order(name):
    with torch.device('meta'):
        model = mmbackbones.build_backbone(name)
    depths = [model.get_layer_depth(n) for n, _ in model.named_parameters()]
    num_layers = depths[0][1]
    assert all(n == num_layers for _, n in depths)
    # the stem comes first (layer 0; where the stem conv is level 0, it is block 1)
    own_rule = type(model).layer_decay_ids is not BaseBackbone.layer_decay_ids
    # the stem is layer 0; a family without one (the stem conv is level 0) starts at 1,
    # unless it numbers its layers by its authors' rule (ConvNeXt: mmpretrain's)
    assert depths[0][0] == (0 if model.stem_modules() or own_rule else 1)
    assert all(0 <= d < num_layers for d, _ in depths)
    ids = [d for d, _ in depths]
    # the last block is num_layers - 2; num_layers - 1 holds what follows it (output norms)
    has_tail = any(d == num_layers - 1 for d in ids)
    assert max(ids) == num_layers - (1 if has_tail else 2)
    if not own_rule:
        assert num_layers == model.num_blocks() + 2  # one layer per block
    # ids never decrease along the network: in the order in which modules run
    with torch.device('cpu'):
        model = mmbackbones.build_backbone(name, out_indices=tuple(range(model.num_levels)))
    # (output norms, at the tail, run beside their level)
    ids = [d for d, n in _in_forward_order(model) if d < n - 1]
    assert ids == sorted(ids), 'layer ids must not decrease along the network'


def _in_forward_order(model):
    """(layer id, n) of every parameter, ordered by when its module first runs."""
    order, hooks = {}, []

    def first_call(module, _):
        order.setdefault(module, len(order))

    for module in model.modules():
        if list(module.parameters(recurse=False)):
            hooks.append(module.register_forward_pre_hook(first_call))
    with torch.no_grad():
        model.eval()(torch.rand(1, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    owner = {}
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            owner[id(p)] = module
    named = [(n, p) for n, p in model.named_parameters() if owner[id(p)] in order]
    named.sort(key=lambda np_: order[owner[id(np_[1])]])
    return [model.get_layer_depth(n) for n, _ in named]


@pytest.mark.parametrize('name', ['resnet18', 'swin_tiny_patch4_window7_224', 'hrnet_w18_small'])
def test_with_cp_follows_one_rule_for_every_family(name, monkeypatch):
    """Every block goes through the base class's runner: checkpointed whenever autograd
    records (also when the input needs no gradient, e.g. behind a frozen stem), never
    under no_grad."""
    from mmbackbones.models.backbones import base
    calls = []

    def counting(block, x):
        calls.append(block)
        return block(x)

    monkeypatch.setattr(base, 'checkpoint_module', counting)
    model = mmbackbones.build_backbone(name, with_cp=True, frozen_stages=0).train()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        model(x)
    assert calls == []
    model(x)
    assert len(calls) == model.num_blocks()


_BATCHNORM_BY_KIND = {}


def _has_batchnorm(name):
    """Whether the row's model has a BatchNorm. Built on the meta device once per family and
    norm setting (the cfg entries whose key names a norm): building all rows would add
    seconds to every collection of this module."""
    variant = get_variant(name)
    kind = (variant.family, repr(sorted((k, v) for k, v in variant.cfg.items() if 'norm' in k)))
    if kind not in _BATCHNORM_BY_KIND:
        with torch.device('meta'):
            model = mmbackbones.build_backbone(name)
        _BATCHNORM_BY_KIND[kind] = any(isinstance(m, _BatchNorm) for m in model.modules())
    return _BATCHNORM_BY_KIND[kind]


# The folding is generic (found by tracing): two rows in the default run, the rest with -m slow.
_DEPLOY_DEFAULT_ROWS = ('resnet18', 'resnest14d')


def _deploy_params():
    cases = []
    for name in list_variants():
        if _has_batchnorm(name):
            slow = get_variant(name).slow or name not in _DEPLOY_DEFAULT_ROWS
            cases.append(pytest.param(name, marks=[pytest.mark.slow] if slow else [], id=name))
    return cases


def _working_modules(model):
    """Leaf modules that compute something (not the nn.Identity placeholders)."""
    return [m for m in model.modules()
            if not list(m.children()) and not isinstance(m, torch.nn.Identity)]


@pytest.mark.parametrize('name', _deploy_params())
def test_deploy_form_equals_training_form(name, tmp_path):
    """switch_to_deploy() folds BatchNorms (random statistics) without changing outputs,
    refuses train() afterwards, and its state dict loads into a fresh deployed instance."""
    variant = get_variant(name)
    overrides = _no_drop(variant)
    model = mmbackbones.build_backbone(name, **overrides).eval()
    randomise(model)
    inputs = [torch.rand(2, 3, *size) for size in variant.parity_sizes]
    with torch.no_grad():
        expected = [model(x) for x in inputs]
    norms_before = sum(isinstance(m, _BatchNorm) for m in model.modules())
    working_before = len(_working_modules(model))

    assert model.switch_to_deploy() is model
    assert sum(isinstance(m, _BatchNorm) for m in model.modules()) < norms_before
    assert len(_working_modules(model)) < working_before
    with torch.no_grad():
        for x, reference in zip(inputs, expected):
            for got, want in zip(model(x), reference):
                torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError, match=r'switch_to_deploy.*build a new model'):
        model.train()

    torch.save(model.state_dict(), tmp_path / 'deployed.pth')
    fresh = mmbackbones.build_backbone(name, **overrides).switch_to_deploy()
    fresh.load_state_dict(torch.load(tmp_path / 'deployed.pth'), strict=True)
    with torch.no_grad():
        for got, want in zip(fresh(inputs[0]), model(inputs[0])):
            assert torch.equal(got, want)
