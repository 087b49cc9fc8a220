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


def test_readme_tables_are_generated_from_the_zoo():
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, os.path.join(root, 'tools', 'gen_readme.py'), '--check'],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
