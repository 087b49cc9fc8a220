# tests/parity_refs.py
"""Reference implementations for the battery's weight-parity test (tests/test_battery.py)."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

REFERENCE_FEATURES = {}  # (family, source) -> fn(ref_model, x) -> list of 4 NCHW tensors (all levels, our level order), pre-any-our-norm
REFERENCE_BUILDERS = {}  # source -> fn(ref_name, size=None) -> nn.Module in eval mode (default timm: timm.create_model(name, pretrained=False, num_classes=0); torchvision: torchvision.models.get_model(name, weights=None))


def openmmlab_config_dir(package: str) -> str:
    """The configs an installed mmdet / mmseg ships (``<package>/.mim/configs``)."""
    spec = importlib.util.find_spec(package)
    return osp.join(spec.submodule_search_locations[0], '.mim', 'configs')


def _build_timm(name, size=None):
    import timm
    if size is not None:
        try:  # models with a fixed input size (ViT, Swin) are built for the test size
            return timm.create_model(name, pretrained=False, num_classes=0, img_size=size).eval()
        except TypeError:  # convnets take no img_size
            pass
    return timm.create_model(name, pretrained=False, num_classes=0).eval()


def _build_torchvision(name, size=None):
    import torchvision
    return torchvision.models.get_model(name, weights=None).eval()


REFERENCE_BUILDERS.setdefault('timm', _build_timm)
REFERENCE_BUILDERS.setdefault('torchvision', _build_torchvision)


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


def randomise_norm_stats(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial norm statistics and affine parameters, so that parity also covers the norms
    (fresh models have mean 0 / var 1 and often zero-initialised last norms)."""
    gen = torch.Generator().manual_seed(seed)

    def uniform(t, low, high):
        t.copy_(torch.rand(t.shape, generator=gen) * (high - low) + low)

    with torch.no_grad():
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


# ------------------------------------------------------------------ ResNet family
def _timm_resnet_levels(model, x):
    # index 0 is the stem (stride 2); 1..4 are layer1..layer4
    return list(model.forward_intermediates(x, indices=[1, 2, 3, 4], intermediates_only=True))


def _torchvision_resnet_levels(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    levels = []
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
        levels.append(x)
    return levels


for _family in ('ResNet', 'ResNeXt', 'Res2Net', 'ResNeSt'):
    REFERENCE_FEATURES[(_family, 'timm')] = _timm_resnet_levels
for _family in ('ResNet', 'ResNeXt'):
    REFERENCE_FEATURES[(_family, 'torchvision')] = _torchvision_resnet_levels


# ------------------------------------------------------------------------------ Swin
def _with_output_norms(stage_outputs, final_norm):
    """NHWC stage outputs -> NCHW levels as our SwinTransformer returns them after conversion:
    the reference's final norm on the last level; elsewhere our fresh output norms (weight 1,
    bias 0, which classification references lack), i.e. a plain layer norm."""
    import torch.nn.functional as F
    levels = []
    for index, x in enumerate(stage_outputs):
        if index == len(stage_outputs) - 1:
            x = final_norm(x)
        else:
            x = F.layer_norm(x, x.shape[-1:])
        levels.append(x.permute(0, 3, 1, 2).contiguous())
    return levels


def _timm_swin_levels(model, x):
    x = model.patch_embed(x)
    outputs = []
    for stage in model.layers:
        x = stage(x)
        outputs.append(x)
    return _with_output_norms(outputs, model.norm)


def _torchvision_swin_levels(model, x):
    outputs = []
    for index, module in enumerate(model.features):
        x = module(x)
        if index % 2 == 1:  # features = [patch embed, stage, merge, stage, merge, stage, ...]
            outputs.append(x)
    return _with_output_norms(outputs, model.norm)


REFERENCE_FEATURES[('SwinTransformer', 'timm')] = _timm_swin_levels
REFERENCE_FEATURES[('SwinTransformer', 'torchvision')] = _torchvision_swin_levels


# ------------------------------------------------- OpenMMLab drop-in (mmdet / mmseg dicts)
def randomise_all_parameters(model: nn.Module, seed: int = 0) -> None:
    """Every parameter random (deformable offsets, zero-initialised gammas and last norms
    included), scaled so that deep networks stay finite; then random norm statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                fan_in = param[0].numel()
                param.copy_(torch.randn(param.shape, generator=gen) / fan_in**0.5)
            else:
                param.copy_(torch.rand(param.shape, generator=gen) - 0.5)
    randomise_norm_stats(model, seed)


def openmmlab_models(scope: str):
    """The MODELS registry of mmdet or mmseg with all its modules (and ours) registered."""
    import mmbackbones  # noqa: F401
    if scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    else:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return MODELS


def build_in_scope(cfg: dict, scope: str) -> nn.Module:
    import copy
    from mmengine.registry import DefaultScope
    registry = openmmlab_models(scope)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(copy.deepcopy(cfg))


def _renamed(values: dict, ours: nn.Module, scope: str) -> dict:
    """``values`` keyed by OpenMMLab parameter/buffer names, keyed by ours (our converter)."""
    from mmbackbones.weights import convert
    return convert(values, ours, scope)


def compare_with_openmmlab(backbone_cfg: dict, scope: str, size=(64, 64), seed: int = 0):
    """Build ``backbone_cfg`` with OpenMMLab's class and with ours (``type`` prefixed with
    ``mmbackbones.``) and assert the same network: parameter count (less the stages ours does
    not build because no output needs them), frozen parameters, BatchNorm modes after
    ``train()``, state-dict keys after conversion and eval-mode outputs with the converted
    weights. Returns ``(ours, theirs)``."""
    from torch.nn.modules.batchnorm import _BatchNorm
    ours_cfg = dict(backbone_cfg, type=f"mmbackbones.{backbone_cfg['type']}")
    torch.manual_seed(seed)
    theirs = build_in_scope(backbone_cfg, scope)
    ours = build_in_scope(ours_cfg, scope)
    theirs.train()
    ours.train()

    built = len(ours.stage_blocks)
    unbuilt = tuple(f'layer{i + 1}.' for i in range(built, 4))
    theirs_count = sum(p.numel() for n, p in theirs.named_parameters() if not n.startswith(unbuilt))
    assert sum(p.numel() for p in ours.parameters()) == theirs_count
    if built == getattr(theirs, 'num_stages', built):
        assert theirs_count == sum(p.numel() for p in theirs.parameters())

    theirs_frozen = _renamed({n: p.requires_grad for n, p in theirs.named_parameters()}, ours,
                             scope)
    assert theirs_frozen == {n: p.requires_grad for n, p in ours.named_parameters()}

    theirs_modes = _renamed({f'{n}.running_mean': m.training for n, m in theirs.named_modules()
                             if isinstance(m, _BatchNorm)}, ours, scope)
    ours_modes = {f'{n}.running_mean': m.training for n, m in ours.named_modules()
                  if isinstance(m, _BatchNorm)}
    assert theirs_modes == ours_modes

    randomise_all_parameters(theirs, seed)
    state = _renamed(theirs.state_dict(), ours, scope)
    ours.load_state_dict(state, strict=True)
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
