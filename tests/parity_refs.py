# tests/parity_refs.py
"""Reference implementations for the battery's weight-parity test (tests/test_battery.py)."""
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

REFERENCE_FEATURES = {}  # (family, source) -> fn(ref_model, x) -> list of 4 NCHW tensors (all levels, our level order), pre-any-our-norm
REFERENCE_BUILDERS = {}  # source -> fn(ref_name, size=None) -> nn.Module in eval mode (default timm: timm.create_model(name, pretrained=False, num_classes=0); torchvision: torchvision.models.get_model(name, weights=None))


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
