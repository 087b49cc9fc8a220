# tests/parity_refs.py
REFERENCE_FEATURES = {}  # (family, source) -> fn(ref_model, x) -> list of 4 NCHW tensors (all levels, our level order), pre-any-our-norm
REFERENCE_BUILDERS = {}  # source -> fn(ref_name) -> nn.Module in eval mode (default timm: timm.create_model(name, pretrained=False, num_classes=0); torchvision: torchvision.models.get_model(name, weights=None))


def _build_timm(name):
    import timm
    return timm.create_model(name, pretrained=False, num_classes=0).eval()


def _build_torchvision(name):
    import torchvision
    return torchvision.models.get_model(name, weights=None).eval()


REFERENCE_BUILDERS.setdefault('timm', _build_timm)
REFERENCE_BUILDERS.setdefault('torchvision', _build_torchvision)


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
