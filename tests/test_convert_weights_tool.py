import subprocess
import sys
from pathlib import Path

import torch

import mmbackbones
from mmbackbones.weights import safe_load

TOOL = Path(__file__).resolve().parents[1] / 'tools' / 'convert_weights.py'


def test_converts_a_torchvision_file_that_then_loads_as_ours(tmp_path):
    import torchvision
    ref = torchvision.models.swin_t(weights=None)
    src, dst = tmp_path / 'tv.pth', tmp_path / 'ours.pth'
    torch.save(ref.state_dict(), src)
    out = subprocess.run([sys.executable, str(TOOL), str(src), str(dst), '--variant',
                          'swin_tiny_patch4_window7_224'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '(torchvision layout)' in out.stdout
    checkpoint = safe_load(str(dst))
    assert checkpoint['meta']['source'] == 'torchvision'
    model = mmbackbones.build_backbone('swin_tiny_patch4_window7_224', out_indices=(3, ))
    model.load_state_dict(checkpoint['state_dict'], strict=False)
    assert torch.equal(model.norm3.weight, ref.norm.weight)
    assert torch.equal(model.stages[1].downsample.reduction.weight, ref.features[2].reduction.weight)


def test_missing_source_file_is_a_clear_error(tmp_path):
    out = subprocess.run([sys.executable, str(TOOL), str(tmp_path / 'nope.pth'), str(tmp_path / 'x.pth'),
                          '--variant', 'swin_tiny_patch4_window7_224'], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0 and 'does not exist' in out.stderr


def test_a_file_that_is_no_checkpoint_is_a_clear_error(tmp_path):
    src = tmp_path / 'notes.pth'
    src.write_text('these are not weights\n')
    out = subprocess.run([sys.executable, str(TOOL), str(src), str(tmp_path / 'x.pth'),
                          '--variant', 'resnet18'], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert f'convert_weights: {src} is not a torch checkpoint' in out.stderr, out.stderr
    assert 'Traceback' not in out.stderr and not (tmp_path / 'x.pth').exists()
