"""Deploy forms (docs/deploy.md): which BatchNorms switch_to_deploy() folds and which it must
leave, the re-parameterisation hook, channels-last, and ONNX export checked in onnxruntime.

The per-row equivalence of the deploy form is in the battery
(tests/test_every_variant.py, test_deploy_form_equals_training_form).
"""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmbackbones
from mmbackbones.models.backbones.base import BaseBackbone
from mmbackbones.models.layers.same_padding import Conv2dSame
from mmbackbones.zoo import get_variant, list_variants

from . import helpers
from .helpers import randomise

no_default_scope = helpers.no_default_scope  # autouse: no default registry scope

_TOOL = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools', 'export.py')


class _Reparam(nn.Module):
    """Stands for a RepVGG-style block: its own switch_to_deploy() owns its subtree."""

    def __init__(self, inner=True):
        super().__init__()
        self.calls = 0
        self.scale = nn.Parameter(torch.ones(1))
        self.inner = _Reparam(inner=False) if inner else None

    def switch_to_deploy(self):
        self.calls += 1

    def forward(self, x):
        return x * self.scale


class _Toy(BaseBackbone):
    """One BatchNorm of each kind: foldable, after a conv whose output is also read elsewhere,
    after an addition."""

    def __init__(self):
        super().__init__(out_indices=(0, ))
        self.in_channels = 3
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)  # foldable
        self.conv2 = nn.Conv2d(8, 8, 1)
        self.bn2 = nn.BatchNorm2d(8)  # conv2's output also feeds the shortcut: must stay
        self.bn3 = nn.BatchNorm2d(8)  # after an addition: must stay
        self.drop = nn.Dropout(0.0)
        self.rep = _Reparam()
        self._setup_levels([8], [1])

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        y = self.conv2(x)
        x = self.bn3(self.bn2(y) + y)
        return (self.rep(self.drop(x)), )

    def stem_modules(self):
        return [self.conv1, self.bn1]

    def level_blocks(self, index):
        return [self.conv2]


def _toy():
    torch.manual_seed(0)
    model = _Toy().eval()
    randomise(model)
    return model


def test_only_batchnorms_that_read_a_layer_output_alone_are_folded():
    model = _toy()
    x = torch.rand(2, 3, 20, 28)
    with torch.no_grad():
        expected = model(x)[0]
    model.switch_to_deploy()
    assert isinstance(model.bn1, nn.Identity) and model.conv1.bias is not None
    assert isinstance(model.bn2, nn.BatchNorm2d) and isinstance(model.bn3, nn.BatchNorm2d)
    assert isinstance(model.drop, nn.Identity)
    # the re-parameterisation hook runs first, on the outermost module only
    assert model.rep.calls == 1 and model.rep.inner.calls == 0
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], expected, rtol=1e-5, atol=1e-5)
    model.switch_to_deploy()  # a second call changes nothing
    assert model.rep.calls == 1
    model.eval()  # eval stays allowed
    with pytest.raises(RuntimeError, match='deploy form'):
        model.train()


def test_the_repvgg_helper_is_the_base_class_deploy_form():
    from mmbackbones.models.layers.repvgg import switch_to_deploy
    # a backbone: its own switch_to_deploy(), BatchNorms folded
    model = _toy()
    assert switch_to_deploy(model) is model and model.deployed
    assert isinstance(model.bn1, nn.Identity) and model.rep.calls == 1
    # any other module: the outermost re-parameterisable blocks only, norms stay
    neck = nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), _Reparam()).eval()
    assert switch_to_deploy(neck) is neck
    assert neck[2].calls == 1 and neck[2].inner.calls == 0
    assert isinstance(neck[1], nn.BatchNorm2d)


class _ReturnsTheConvOutput(_Toy):

    def forward(self, x):
        y = self.conv1(x)
        return (y, self.bn1(y))


def test_a_layer_output_the_model_returns_is_not_folded():
    torch.manual_seed(0)
    model = _ReturnsTheConvOutput().eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        expected = model(x)
    model.switch_to_deploy()
    assert isinstance(model.bn1, nn.BatchNorm2d)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), expected))


class _Standardised(nn.Conv2d):
    """A conv subclass the folding does not know (weight standardisation): never folded."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        return self._conv_forward(x, w, self.bias)


class _SamePadded(_Toy):
    """A norm after a layer that is not folded (its output is freed once the norm has run, and
    an in-place activation allocates nothing before the next conv's output), then a plain and
    a TensorFlow-padded convolution whose norms fold."""

    def __init__(self):
        super().__init__()
        self.conv1 = _Standardised(3, 8, 3, padding=1, bias=False)
        self.conv3 = Conv2dSame(8, 8, 3, stride=2, groups=8, bias=True)

    def forward(self, x):
        x = self.bn1(self.conv1(x)).relu_()
        x = self.bn2(self.conv2(x)).relu_()
        return (self.bn3(self.conv3(x)), )


def test_batchnorms_after_same_padded_convs_fold_and_only_those():
    # regression: the id of a freed norm input was taken by a later conv output, so that conv
    # was folded twice (with a norm that is not its own)
    torch.manual_seed(0)
    model = _SamePadded().eval()
    randomise(model)
    inputs = [torch.rand(2, 3, 29, 37), torch.rand(1, 3, 32, 32)]
    with torch.no_grad():
        expected = [model(x)[0] for x in inputs]
    model.switch_to_deploy()
    assert isinstance(model.bn1, nn.BatchNorm2d)
    assert isinstance(model.bn2, nn.Identity) and isinstance(model.bn3, nn.Identity)
    assert type(model.conv3) is Conv2dSame
    with torch.no_grad():
        for x, want in zip(inputs, expected):
            torch.testing.assert_close(model(x)[0], want, rtol=1e-5, atol=1e-5)


def test_a_same_padded_deployed_state_dict_loads_into_a_fresh_deployed_model(tmp_path):
    # mmseg's MobileNetV3: TensorFlow padding in the stem and the strided depthwise convs;
    # every BatchNorm there reads a conv output alone, so every one folds, in every instance
    model = mmbackbones.build_backbone('mobilenetv3_small_mmseg').eval()
    randomise(model)
    x = torch.rand(1, 3, 61, 75)
    with torch.no_grad():
        expected = model(x)
    model.switch_to_deploy()
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    torch.save(model.state_dict(), tmp_path / 'deployed.pth')
    fresh = mmbackbones.build_backbone('mobilenetv3_small_mmseg').switch_to_deploy()
    fresh.load_state_dict(torch.load(tmp_path / 'deployed.pth'), strict=True)
    with torch.no_grad():
        for got, want in zip(fresh(x), expected):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_a_fold_keeps_the_frozen_state_of_the_layer():
    model = mmbackbones.build_backbone('resnet18', frozen_stages=1).switch_to_deploy()
    assert not model.conv1.weight.requires_grad and not model.conv1.bias.requires_grad
    assert model.layer4[0].conv1.weight.requires_grad


@pytest.mark.parametrize('name,size', [('resnet18', (61, 83)),
                                       ('swin_tiny_patch4_window7_224', (64, 96))])
def test_channels_last_keeps_outputs(name, size):
    model = mmbackbones.build_backbone(name).eval()
    randomise(model)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        expected = model(x)
        model.to_channels_last()
        got = model(x)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    if name == 'resnet18':  # activations stay NHWC through the network
        assert all(f.is_contiguous(memory_format=torch.channels_last) for f in got)
        model.switch_to_deploy()
        with torch.no_grad():
            for a, b in zip(model(x), expected):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------ ONNX
def _load_tool():
    spec = importlib.util.spec_from_file_location('mmbackbones_export_tool', _TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    pytest.importorskip('onnxruntime')
    return _load_tool()


# One code path per kind of export in the default run: dynamic height and width (ResNet)
# and fixed height and width (Swin); the other families with -m slow.
_EXPORT_DEFAULT_ROWS = ('resnet18', 'swin_tiny_patch4_window7_224')


def _one_row_per_family():
    """The first default-run row of every family in the zoo (families merged later included)."""
    first = {}
    for name in list_variants():
        variant = get_variant(name)
        if not variant.slow:
            first.setdefault(variant.family, name)
    return [pytest.param(name, id=f'{family}-{name}', marks=[] if name in _EXPORT_DEFAULT_ROWS
                         else [pytest.mark.slow]) for family, name in sorted(first.items())]


@pytest.mark.parametrize('name', _one_row_per_family())
def test_export_matches_pytorch_in_onnxruntime(tool, name, tmp_path, capsys):
    out = tmp_path / f'{name}.onnx'
    assert tool.main([name, '--onnx', str(out), '--deploy', '--input', '64x64']) == 0
    assert out.is_file()
    report = capsys.readouterr().out
    assert 'onnxruntime matches PyTorch at 1x3x64x64' in report
    model = mmbackbones.build_backbone(name)
    if model.onnx_dynamic_hw:
        assert '2x3x97x51' in report  # a second height and width, not only a second batch
    else:
        assert '2x3x64x64' in report and 'fixed at 64x64' in report


def test_export_refuses_dynamic_size_where_the_family_cannot(tool, tmp_path):
    model = mmbackbones.build_backbone('swin_tiny_patch4_window7_224').eval()
    with pytest.raises(ValueError, match='cannot be exported with a dynamic height and width: '
                       'the window padding'):
        tool.export_onnx(model, str(tmp_path / 'swin.onnx'), (64, 64), dynamic=True)


def test_export_exits_non_zero_when_onnx_differs(tool, tmp_path, monkeypatch, capsys):
    export = tool.export_onnx

    def export_then_change_the_model(model, path, size, dynamic=True):
        export(model, path, size, dynamic)
        with torch.no_grad():
            model.conv1.weight.add_(0.1)  # PyTorch now computes something else than the file

    monkeypatch.setattr(tool, 'build_model', lambda target, checkpoint=None: _toy())
    monkeypatch.setattr(tool, 'export_onnx', export_then_change_the_model)
    out = tmp_path / 'toy.onnx'
    assert tool.main(['resnet18', '--onnx', str(out), '--input', '32x32']) == 1
    assert 'does not match PyTorch' in capsys.readouterr().err


def test_export_reads_a_config(tool, tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text("model = dict(backbone=dict(type='mmbackbones.ResNet', depth=18, "
                      "out_indices=(3, ), init_cfg=dict(type='Pretrained', "
                      "checkpoint='torchvision://resnet18')))\n")
    model = tool.build_model(str(config))  # no download: init_cfg is dropped
    assert type(model).__name__ == 'ResNet' and model.out_channels == (512, )
    assert not model.training
    assert any(isinstance(m, _BatchNorm) for m in model.modules())
