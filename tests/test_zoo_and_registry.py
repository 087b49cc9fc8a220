"""The zoo API and the scoped registry, seen from mmdet and mmseg."""
import subprocess
import sys
import textwrap

import pytest
import torch

import mmbackbones
from mmbackbones.models.backbones import SwinTransformer


def test_unknown_variant_suggests_close_names():
    with pytest.raises(KeyError, match='swin_tiny_patch4_window7_224'):
        mmbackbones.get_variant('swin_tiny_patch4_window7')


def test_list_variants_filters_by_pattern():
    names = mmbackbones.list_variants('swin*')
    assert 'swin_tiny_patch4_window7_224' in names and names == sorted(names)
    assert all(n.startswith('swin') for n in names)


def test_build_backbone_overrides_and_reports_levels():
    with torch.device('meta'):
        m = mmbackbones.build_backbone('swin_tiny_patch4_window7_224', out_indices=(1, 2, 3))
    assert m.out_channels == (192, 384, 768) and m.out_strides == (8, 16, 32)


def test_bad_arch_names_the_argument_and_valid_values():
    with pytest.raises(ValueError, match=r"arch='huge'.*tiny"):
        SwinTransformer(arch='huge')


def test_scoped_type_builds_our_class_through_mmdet_registry():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    with torch.device('meta'):
        model = MMDET_MODELS.build(dict(type='mmbackbones.SwinTransformer', arch='tiny'))
    assert type(model) is SwinTransformer
    from mmdet.models.backbones import SwinTransformer as MMDetSwin
    assert MMDET_MODELS.get('SwinTransformer') is MMDetSwin  # unscoped stays mmdet's


def test_scoped_type_builds_our_class_through_mmseg_registry():
    from mmseg.registry import MODELS as MMSEG_MODELS
    from mmseg.utils import register_all_modules
    register_all_modules()
    with torch.device('meta'):
        model = MMSEG_MODELS.build(dict(type='mmbackbones.SwinTransformer', arch='tiny'))
    assert type(model) is SwinTransformer


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_custom_imports_from_a_config(tmp_path, scope):
    """A config with custom_imports, read in a fresh interpreter that never imported us."""
    config = tmp_path / 'cfg.py'
    config.write_text(textwrap.dedent(f'''
        default_scope = '{scope}'
        custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)
        backbone = dict(type='mmbackbones.SwinTransformer', arch='tiny', out_indices=(3, ))
    '''))
    script = textwrap.dedent(f'''
        import sys, torch
        assert 'mmbackbones' not in sys.modules
        from mmengine.config import Config
        from {scope}.registry import MODELS
        from {scope}.utils import register_all_modules
        register_all_modules()
        cfg = Config.fromfile({str(config)!r})
        assert 'mmbackbones' in sys.modules
        with torch.device('meta'):
            m = MODELS.build(cfg.backbone)
        print(type(m).__module__, m.out_channels)
    ''')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ['mmbackbones.models.backbones.swin', '(768,)']


def test_import_is_cheap():
    """`import mmbackbones` must not import timm (or read files at import time)."""
    script = 'import sys, mmbackbones; print("timm" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'False'


def test_shapes_only_builds_the_same_structure_and_restores_initialisation():
    """The README table builds under zoo.shapes_only (no initialisation): same modules,
    parameters and buffers as a plain meta-device build, and initialisation works again after."""
    from mmbackbones.zoo import shapes_only
    init_fn, reset_fn = torch.nn.init.kaiming_uniform_, torch.nn.Conv2d.reset_parameters
    with shapes_only():
        fast = mmbackbones.build_backbone('swin_tiny_patch4_window7_224')
        assert torch.nn.Conv2d(3, 4, 3).weight.is_meta
    with torch.device('meta'):
        plain = mmbackbones.build_backbone('swin_tiny_patch4_window7_224')
    assert repr(fast) == repr(plain)
    assert ([(k, v.shape, v.dtype) for k, v in fast.state_dict().items()]
            == [(k, v.shape, v.dtype) for k, v in plain.state_dict().items()])
    assert (fast.level_channels, fast.level_strides) == (plain.level_channels, plain.level_strides)
    assert torch.nn.init.kaiming_uniform_ is init_fn and torch.nn.Conv2d.reset_parameters is reset_fn
    conv, norm = torch.nn.Conv2d(3, 4, 3), torch.nn.LayerNorm(4)
    assert conv.weight.abs().sum() > 0 and torch.equal(norm.weight, torch.ones(4))


def test_readme_tables_are_generated_from_the_zoo():
    """`tools/gen_readme.py --check --only readme` in a fresh interpreter: in this process an
    earlier test's default registry scope changes what some rows build (MobileNetV2's
    defaults follow the build scope); docs/model_zoo.md: tests/test_analysis.py."""
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, os.path.join(root, 'tools', 'gen_readme.py'), '--check',
                          '--only', 'readme'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr


def test_everything_a_family_registers_lives_in_its_module():
    """One home per family: converters, reference adapters and the classes of zoo rows are
    defined in the family's module under mmbackbones/models/backbones/, not scattered."""
    import importlib
    convert = importlib.import_module('mmbackbones.weights.convert')  # the module, not the function
    references = importlib.import_module('mmbackbones.references')
    registrations = [(family, fn) for (family, _), (_, fn) in convert._CONVERTERS.items()]
    registrations += [(family, fn) for (family, _), fn in references._LEVELS.items()]
    assert registrations
    for family, fn in registrations:
        assert fn.__module__ == family.__module__, (family, fn)
    for name in mmbackbones.list_variants():
        cls = mmbackbones.MODELS.get(f'mmbackbones.{mmbackbones.get_variant(name).family}')
        assert cls.__module__.startswith('mmbackbones.models.backbones.'), (name, cls)


def test_subclasses_find_converters_and_reference_adapters_along_the_hierarchy():
    from mmbackbones.models.backbones import Res2Net, ResNeSt, ResNet, ResNeXt, ResNetV1d
    from mmbackbones.references import levels_fn_for
    from mmbackbones.weights import converters_for
    for cls in (ResNeXt, Res2Net, ResNeSt, ResNetV1d):
        assert converters_for(cls) == converters_for(ResNet)
        assert levels_fn_for(cls, 'timm') is levels_fn_for(ResNet, 'timm')
    assert levels_fn_for(ResNet, 'mmdet') is not None  # OpenMMLab backbones return levels
    assert levels_fn_for(ResNet, 'mmpretrain') is not None
