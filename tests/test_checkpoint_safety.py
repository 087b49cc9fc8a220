"""Checkpoints load with weights_only=True and an explicit allow-list (DESIGN.md section 5)."""
import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import mmbackbones
from mmbackbones.weights import PretrainedMismatchError, UnsafeCheckpointError, safe_load


class _RunsACommand:
    """A pickle payload that would run a shell command when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.fixture
def malicious_checkpoint(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _RunsACommand(marker)}, path)
    # The payload is live: plain pickle would run it (checked on a copy, then cleaned up).
    with open(path, 'rb') as f:
        data = f.read()
    assert b'system' in data
    return path, marker


def test_malicious_pickle_is_refused_and_never_runs(malicious_checkpoint):
    path, marker = malicious_checkpoint
    with pytest.raises(UnsafeCheckpointError, match='allow-list'):
        safe_load(str(path))
    assert not marker.exists()


def test_mmengine_loading_goes_through_the_allow_list(malicious_checkpoint):
    path, marker = malicious_checkpoint
    # resume and load_from use this entry point
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(str(path), map_location='cpu')
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_pretrained_init_refuses_malicious_file(malicious_checkpoint):
    path, marker = malicious_checkpoint
    model = mmbackbones.build_backbone(
        'swin_tiny_patch4_window7_224', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(UnsafeCheckpointError):
        model.init_weights()
    assert not marker.exists()


def test_pickle_of_the_payload_really_runs_commands(tmp_path):
    """Sanity check of the fixture: without the allow-list the payload executes."""
    marker = tmp_path / 'ran'
    pickle.loads(pickle.dumps(_RunsACommand(marker)))
    assert marker.exists()


def test_pretrained_that_matches_too_little_raises(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'conv.weight': torch.zeros(8, 3, 3, 3)}}, path)
    model = mmbackbones.build_backbone('swin_tiny_patch4_window7_224',
                                       init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(PretrainedMismatchError):
        model.init_weights()


def test_pretrained_with_wrong_shapes_raises(tmp_path):
    small = mmbackbones.build_backbone('swin_tiny_patch4_window7_224')
    path = tmp_path / 'tiny.pth'
    torch.save({'state_dict': small.state_dict()}, path)
    model = mmbackbones.build_backbone('swin_small_patch4_window7_224', arch='base',
                                       init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(PretrainedMismatchError, match='does not fit'):
        model.init_weights()


def test_pretrained_detects_and_converts_foreign_layouts(tmp_path):
    """A timm and a torchvision state dict saved to disk load into equal backbones."""
    import timm
    import torchvision
    sources = {
        'timm': timm.create_model('swin_tiny_patch4_window7_224', pretrained=False,
                                  num_classes=0).state_dict(),
        'torchvision': torchvision.models.swin_t(weights=None).state_dict(),
    }
    for source, state in sources.items():
        path = tmp_path / f'{source}.pth'
        torch.save(state, path)
        model = mmbackbones.build_backbone(
            'swin_tiny_patch4_window7_224', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
        model.init_weights()
        qkv = model.stages[2].blocks[1].attn.qkv.weight
        expected = state['layers.2.blocks.1.attn.qkv.weight' if source == 'timm' else
                         'features.5.1.attn.qkv.weight']
        assert torch.equal(qkv, expected), source


def test_timm_scheme_offline_through_pretrained_cfg_overlay(tmp_path, monkeypatch):
    """timm://<model> goes through timm's own pretrained loading; point it at a local file."""
    import timm
    ref = timm.create_model('swin_tiny_patch4_window7_224', pretrained=False, num_classes=0)
    path = tmp_path / 'timm_swin_t.pth'
    torch.save(ref.state_dict(), path)
    real_create = timm.create_model

    def create_from_local_file(name, pretrained=False, **kwargs):
        kwargs.setdefault('pretrained_cfg_overlay', dict(file=str(path), num_classes=0))
        return real_create(name, pretrained=pretrained, num_classes=0, **kwargs)

    monkeypatch.setattr(timm, 'create_model', create_from_local_file)
    model = mmbackbones.build_backbone(
        'swin_tiny_patch4_window7_224',
        init_cfg=dict(type='Pretrained', checkpoint='timm://swin_tiny_patch4_window7_224'))
    model.init_weights()
    assert torch.equal(model.patch_embed.proj.weight, ref.patch_embed.proj.weight)


def test_torchvision_scheme_offline(tmp_path, monkeypatch):
    import torchvision
    ref = torchvision.models.swin_t(weights=None)
    calls = []

    def get_model_offline(name, weights=None):
        calls.append((name, weights))
        return ref

    monkeypatch.setattr(torchvision.models, 'get_model', get_model_offline)
    model = mmbackbones.build_backbone(
        'swin_tiny_patch4_window7_224',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://swin_t.IMAGENET1K_V1'))
    model.init_weights()
    assert calls == [('swin_t', 'IMAGENET1K_V1')]
    assert torch.equal(model.patch_embed.proj.weight, ref.features[0][0].weight)


# --------------------------------------------------------------------------------- resume


def test_runner_trains_two_epochs_then_resumes_a_third(tmp_path):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    class Points(Dataset):

        def __len__(self):
            return 16

        def __getitem__(self, index):
            g = torch.Generator().manual_seed(index)
            x = torch.randn(4, generator=g)
            return dict(inputs=x, target=x.sum().reshape(1))

    class Regressor(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 1)
            self.norm = nn.BatchNorm1d(4)

        def forward(self, inputs, target=None, mode='tensor'):
            out = self.linear(self.norm(inputs))
            if mode == 'loss':
                return dict(loss=((out - target)**2).mean())
            return out

    def make_runner(max_epochs, resume):
        return Runner(
            model=Regressor(), work_dir=str(tmp_path),
            train_dataloader=dict(dataset=Points(), sampler=dict(type='DefaultSampler', shuffle=True),
                                  collate_fn=dict(type='default_collate'), batch_size=4,
                                  num_workers=0),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
            param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=True),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
            resume=resume, randomness=dict(seed=0), experiment_name=f'run{max_epochs}')

    first = make_runner(2, resume=False)
    first.train()
    checkpoint = tmp_path / 'epoch_2.pth'
    assert checkpoint.exists()
    # Plain torch.load (weights_only=True by default on torch >= 2.6) refuses mmengine's
    # checkpoint: the allow-list is what makes resuming possible.
    with pytest.raises(Exception):
        torch.load(checkpoint)
    second = make_runner(3, resume=True)
    second.train()
    assert second.train_loop.epoch == 3
    assert second.train_loop.iter == 12  # 3 epochs x 4 iterations, none repeated
    resumed = safe_load(str(tmp_path / 'epoch_3.pth'))
    assert resumed['meta']['epoch'] == 3
    assert 'message_hub' in resumed and 'optimizer' in resumed
