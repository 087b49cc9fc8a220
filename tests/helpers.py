"""What several test modules share: random weights, feature comparison, OpenMMLab builds."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmbackbones.references import build_openmmlab


def openmmlab_config_dir(package: str) -> str:
    """The configs an installed mmdet / mmseg ships (``<package>/.mim/configs``)."""
    spec = importlib.util.find_spec(package)
    return osp.join(spec.submodule_search_locations[0], '.mim', 'configs')


@pytest.fixture(autouse=True)
def no_default_scope():
    """Each test starts outside any mmengine default scope: ``register_all_modules()`` in
    other test modules leaves one behind, and ResNet's ``norm_eval`` default follows it
    (mmdet: True). Import this fixture into a module to make its tests order-independent."""
    from collections import OrderedDict
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict
    DefaultScope._instance_dict = OrderedDict()
    yield
    DefaultScope._instance_dict = saved


def randomise(model: nn.Module, seed: int = 0, every_parameter: bool = False) -> None:
    """Non-trivial weights, so that parity also covers what a fresh model leaves trivial.

    Always: BatchNorm statistics and the affine parameters of every norm (fresh models have
    mean 0 / var 1, often zero-initialised last norms, identity layer norms).
    ``every_parameter``: first every parameter (deformable offsets, position tables and
    gammas included), scaled by fan-in so that deep networks stay finite.
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform(t, low, high):
        t.copy_(torch.rand(t.shape, generator=gen) * (high - low) + low)

    with torch.no_grad():
        if every_parameter:
            for param in model.parameters():
                if param.dim() > 1:
                    param.copy_(torch.randn(param.shape, generator=gen) / param[0].numel()**0.5)
                else:
                    uniform(param, -0.5, 0.5)
        for module in model.modules():
            if isinstance(module, _BatchNorm) and module.running_mean is not None:
                uniform(module.running_mean, -0.5, 0.5)
                uniform(module.running_var, 0.5, 2.0)
            if isinstance(module, (_BatchNorm, nn.GroupNorm, nn.LayerNorm)) and getattr(
                    module, 'weight', None) is not None:
                uniform(module.weight, 0.5, 1.5)
                if module.bias is not None:
                    uniform(module.bias, -0.5, 0.5)


def feature_mismatch(ours, reference):
    """Per level: max abs difference / max abs reference value (inf on a shape mismatch)."""
    assert len(ours) == len(reference), (len(ours), len(reference))
    errors = []
    for a, b in zip(ours, reference):
        if a.shape != b.shape:
            errors.append(float('inf'))
            continue
        scale = b.abs().max().clamp_min(1e-6)
        errors.append(((a.float() - b.float()).abs().max() / scale).item())
    return errors


def compare_with_openmmlab(backbone_cfg: dict, scope: str, size=(64, 64), seed: int = 0):
    """Build ``backbone_cfg`` with OpenMMLab's class and with ours (``type`` prefixed with
    ``mmbackbones.``) and assert the same network: parameter count (less the stages ours does
    not build because no output needs them), frozen parameters, BatchNorm modes after
    ``train()``, state-dict keys after conversion and eval-mode outputs with the converted
    weights. Returns ``(ours, theirs)``."""
    from mmbackbones.weights import convert
    ours_cfg = dict(backbone_cfg, type=f"mmbackbones.{backbone_cfg['type']}")
    torch.manual_seed(seed)
    theirs = build_openmmlab(backbone_cfg, scope)
    ours = build_openmmlab(ours_cfg, scope)
    theirs.train()
    ours.train()

    built = len(ours.stage_blocks)
    unbuilt = tuple(f'layer{i + 1}.' for i in range(built, 4))
    theirs_count = sum(p.numel() for n, p in theirs.named_parameters() if not n.startswith(unbuilt))
    assert sum(p.numel() for p in ours.parameters()) == theirs_count
    if built == getattr(theirs, 'num_stages', built):
        assert theirs_count == sum(p.numel() for p in theirs.parameters())

    theirs_frozen = convert({n: p.requires_grad for n, p in theirs.named_parameters()}, ours,
                            scope)
    assert theirs_frozen == {n: p.requires_grad for n, p in ours.named_parameters()}

    theirs_modes = convert({f'{n}.running_mean': m.training for n, m in theirs.named_modules()
                            if isinstance(m, _BatchNorm)}, ours, scope)
    ours_modes = {f'{n}.running_mean': m.training for n, m in ours.named_modules()
                  if isinstance(m, _BatchNorm)}
    assert theirs_modes == ours_modes

    randomise(theirs, seed, every_parameter=True)
    ours.load_state_dict(convert(theirs.state_dict(), ours, scope), strict=True)
    theirs.eval()
    ours.eval()
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = theirs(x)
        got = ours(x)
    assert tuple(f.shape[1] for f in got) == ours.out_channels
    errors = feature_mismatch(got, expected)
    assert max(errors) <= 1e-4, f'relative errors per output {errors}'
    return ours, theirs
