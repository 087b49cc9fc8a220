"""Bad input to the tools and the backbones stops with a message that says what is wrong and
where: config files with mistakes, broken COCO annotation files and images, checkpoints that
do not fit the model, and backbone arguments and inputs no family can use."""
import json
import os
import os.path as osp
import shutil

import pytest
import torch

from tests import test_train_tools
from tests.test_train_tools import (DET_TOY, PY, SEG_TOY, det_options, explain, run_tool,
                                    seg_options)

toy_root = test_train_tools.toy_root  # the module fixture of the toy data sets


# --------------------------------------------------------------------------- config files
def _write(path, text):
    path.write_text(text)
    return str(path)


TOY_BASE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs',
                    'resnet18_retinanet.py')


CONFIG_MISTAKES = ['syntax', 'syntax_in_base', 'name_error']
BROKEN_ANNOTATIONS = ['truncated', 'no_images']
UNUSABLE_IMAGES = ['empty', 'garbage']


def _config_mistake(tmp_path, case):
    """(config, file the message names, its line) for a config with mistake ``case``."""
    base = tmp_path / 'base.py'
    if case == 'syntax_in_base':
        _write(base, f'_base_ = [{TOY_BASE!r}]\nx = 1\nmodel = dict(backbone=dict(depth=18)\n')
        config = _write(tmp_path / 'child.py', "_base_ = ['./base.py']\n")
        return config, str(base), 3
    if case == 'syntax':
        config = _write(tmp_path / 'broken.py', f'_base_ = [{TOY_BASE!r}]\n\n'
                        'train_cfg = dict(max_epochs=2,, val_interval=1)\n')
        return config, config, 3
    config = _write(tmp_path / 'undefined.py', f'_base_ = [{TOY_BASE!r}]\n'
                    'lr = base_lr * 2\n')
    return config, config, 2


def _coco_copy(toy, tmp_path):
    root = tmp_path / 'data' / 'toy_coco'
    shutil.copytree(osp.join(toy, 'toy_coco'), root)
    return root


def _damage_annotations(coco_copy, damage):
    ann = coco_copy / 'annotations' / 'instances_train.json'
    if damage == 'truncated':
        data = ann.read_bytes()
        ann.write_bytes(data[:len(data) // 2])
    else:
        data = json.loads(ann.read_text())
        del data['images']
        ann.write_text(json.dumps(data))
    return ann


def _damage_image(coco_copy, damage):
    images = sorted(os.listdir(coco_copy / 'train'))
    victim = coco_copy / 'train' / images[3]
    victim.write_bytes(b'' if damage == 'empty' else b'<html>not found</html>')
    return victim, len(images)


def _train_det_args(root, tmp_path):
    return ['tools/train.py', [DET_TOY, '--work-dir', str(tmp_path / 'wd'), '--cfg-options']
            + det_options(str(root.parent))]


@pytest.fixture(scope='module')
def refused_runs(toy_root, tmp_path_factory):
    """{(test, case): (process, what the test checks)}: every refused train.py run of the
    config and data tests below, run in one interpreter (tests/tool_runs.py: each is what
    `python tools/train.py ARGS` does), each with its own inputs and work dir."""
    runs, facts = {}, {}
    for case in CONFIG_MISTAKES:
        tmp_path = tmp_path_factory.mktemp(case)
        config, where, line = _config_mistake(tmp_path, case)
        runs['config', case] = ['tools/train.py', [config, '--work-dir', str(tmp_path / 'wd')]]
        facts['config', case] = config, where, line
    for damage in BROKEN_ANNOTATIONS:
        tmp_path = tmp_path_factory.mktemp(damage)
        coco = _coco_copy(toy_root, tmp_path)
        facts['annotations', damage] = _damage_annotations(coco, damage)
        runs['annotations', damage] = _train_det_args(coco, tmp_path)
    for damage in UNUSABLE_IMAGES:
        tmp_path = tmp_path_factory.mktemp(damage)
        coco = _coco_copy(toy_root, tmp_path)
        facts['image', damage] = _damage_image(coco, damage)
        runs['image', damage] = _train_det_args(coco, tmp_path)
    from .tool_runs import run_tools
    return {key: (proc, facts[key]) for key, proc in zip(runs, run_tools(list(runs.values())))}


@pytest.mark.parametrize('case', CONFIG_MISTAKES)
def test_config_mistakes_name_file_and_line(refused_runs, case):
    proc, (config, where, line) = refused_runs['config', case]
    assert proc.returncode == 2, explain(proc)
    assert f'config file {where}, line {line}: ' in proc.stderr, explain(proc)
    assert 'Traceback' not in proc.stderr
    if case == 'name_error':
        assert "NameError: name 'base_lr' is not defined" in proc.stderr
        assert 'lr = base_lr * 2' in proc.stderr
    else:
        assert 'syntax error' in proc.stderr
    if case == 'syntax_in_base':
        assert f'(loaded as a _base_ of {config})' in proc.stderr


# --------------------------------------------------------------------------- data files
@pytest.fixture
def coco_copy(toy_root, tmp_path):
    return _coco_copy(toy_root, tmp_path)


@pytest.mark.parametrize('damage', BROKEN_ANNOTATIONS)
def test_broken_coco_annotation_file_is_named(refused_runs, damage):
    proc, ann = refused_runs['annotations', damage]
    assert proc.returncode == 1, explain(proc)
    assert f'{ann} is not' in proc.stderr, explain(proc)
    assert 'train_dataloader.dataset' in proc.stderr
    if damage == 'truncated':
        assert 'not valid JSON' in proc.stderr and 'truncated' in proc.stderr
    else:
        assert "lacks 'images'" in proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.parametrize('damage', UNUSABLE_IMAGES)
def test_unusable_image_is_named(refused_runs, damage):
    proc, (victim, count) = refused_runs['image', damage]
    assert proc.returncode == 1, explain(proc)
    expected = 'empty (0 bytes)' if damage == 'empty' else "not an image (it starts with b'<html>no"
    assert f'{victim}: {expected}' in proc.stderr, explain(proc)
    assert f'1 of {count} images cannot be used' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_degenerate_boxes_are_counted_before_training(coco_copy, capsys):
    from mmbackbones.cli.launch import check_data, load_config, register_scope
    ann = coco_copy / 'annotations' / 'instances_train.json'
    data = json.loads(ann.read_text())
    for a in data['annotations'][:3]:
        a['bbox'][2 if a['id'] % 2 else 3] = 0.0
    data['annotations'][4]['bbox'][3] = -2.0
    ann.write_text(json.dumps(data))
    bad_ids = [a['id'] for a in data['annotations'][:3]] + [data['annotations'][4]['id']]
    cfg = load_config(osp.join(osp.dirname(TOY_BASE), 'swin_maskrcnn.py'),
                      dict(item.split('=', 1) for item in det_options(str(coco_copy.parent))
                           if 'data_root' in item or 'ann_file' in item), toy=True)
    register_scope(cfg)
    check_data(cfg, ('train', ))
    err = capsys.readouterr().err
    total = len(data['annotations'])
    assert f'{ann}: 4 of {total} boxes have a non-positive width or height' in err, err
    assert 'annotation ids ' + ', '.join(map(str, bad_ids)) in err


# --------------------------------------------------------------------------- checkpoints
# tiny_seg_run: tests/conftest.py (a trained tiny UperNet, shared with test_train_tools)
def test_checkpoint_with_a_wrong_shaped_tensor_is_refused(toy_root, tiny_seg_run, tmp_path):
    from mmbackbones.weights import safe_load
    work_dir, good = tiny_seg_run.work_dir, tiny_seg_run.checkpoint
    checkpoint = safe_load(good)
    weight = checkpoint['state_dict']['decode_head.conv_seg.weight']
    assert tuple(weight.shape) == (5, 32, 1, 1)
    checkpoint['state_dict']['decode_head.conv_seg.weight'] = torch.zeros(6, 32, 1, 1)
    bad = str(tmp_path / 'six_classes.pth')
    torch.save(checkpoint, bad)
    metrics_file = osp.join(work_dir, 'test', 'test_metrics.json')
    before = open(metrics_file, 'rb').read()

    proc = run_tool([PY, 'tools/test.py', SEG_TOY, bad, '--work-dir', work_dir,
                     '--cfg-options'] + seg_options(toy_root, iters=3))
    assert proc.returncode == 1, explain(proc)
    assert (f'{bad} does not fit the model this config builds' in proc.stderr), explain(proc)
    assert ('decode_head.conv_seg.weight: checkpoint (6, 32, 1, 1) vs model (5, 32, 1, 1)'
            in proc.stderr)
    assert 'Traceback' not in proc.stderr
    assert open(metrics_file, 'rb').read() == before  # the earlier result is kept


def test_checkpoint_of_another_config_is_refused(toy_root, tiny_seg_run, tmp_path):
    """The tiny Swin's checkpoint (32 channels) against a Swin of 48 channels: refused for
    evaluation and as load_from of a training (which then does not start)."""
    checkpoint = tiny_seg_run.checkpoint
    options = seg_options(toy_root, iters=3, extra=[
        'model.backbone.embed_dims=48', 'model.decode_head.in_channels=[48,96,192,384]',
        'model.auxiliary_head.in_channels=192'])
    proc = run_tool([PY, 'tools/test.py', SEG_TOY, checkpoint, '--work-dir',
                     str(tmp_path / 'eval'), '--cfg-options'] + options)
    assert proc.returncode == 1, explain(proc)
    assert f'{checkpoint} does not fit the model this config builds: ' in proc.stderr
    assert 'at least 90% are required' in proc.stderr
    assert 'backbone.patch_embed.proj.weight: checkpoint (32, 3, 4, 4) vs model (48, 3, 4, 4)' \
        in proc.stderr, explain(proc)
    assert 'Traceback' not in proc.stderr
    assert not osp.exists(tmp_path / 'eval' / 'test_metrics.json')

    train_dir = tmp_path / 'finetune'
    proc = run_tool([PY, 'tools/train.py', SEG_TOY, '--work-dir', str(train_dir),
                     '--cfg-options', f'load_from={checkpoint}'] + options)
    assert proc.returncode == 1, explain(proc)
    assert f'{checkpoint} does not fit the model this config builds' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not [f for f in os.listdir(train_dir) if f.endswith('.pth')]


# --------------------------------------------------------------------------- backbones
FAMILIES = [
    dict(type='mmbackbones.ResNet', depth=18),
    dict(type='mmbackbones.Res2Net', depth=50),
    dict(type='mmbackbones.ResNeSt', depth=50),
    dict(type='mmbackbones.SwinTransformer',
         arch=dict(embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])),
]


def _build(cfg, **overrides):
    from mmbackbones.registry import MODELS
    return MODELS.build(dict(cfg, **overrides))


@pytest.mark.parametrize('cfg', FAMILIES, ids=lambda c: c['type'].split('.')[1])
def test_empty_out_indices_is_refused(cfg):
    with pytest.raises(ValueError, match=r'out_indices=\(\) of \w+: at least one level is '
                       r'needed; valid indices are 0\.\.3'):
        _build(cfg, out_indices=())


@pytest.mark.parametrize('cfg', FAMILIES, ids=lambda c: c['type'].split('.')[1])
def test_backbone_input_must_be_a_non_empty_4d_batch(cfg):
    model = _build(cfg).eval()
    name = cfg['type'].split('.')[1]
    if name == 'SwinTransformer':
        name = type(model).__name__
    with torch.no_grad():
        assert len(model(torch.zeros(1, 3, 64, 64))) == 4  # the hook lets good input through
        with pytest.raises(ValueError, match=rf'{name}\.forward got an empty batch \(N=0, '
                           r'shape \(0, 3, 64, 64\)\)'):
            model(torch.zeros(0, 3, 64, 64))
        with pytest.raises(ValueError, match=rf'{name}\.forward expects a 4-D tensor '
                           r'\(N, C, H, W\), got a 3-D tensor of shape \(3, 64, 64\)'):
            model(torch.zeros(3, 64, 64))
        with pytest.raises(ValueError, match='got a 5-D tensor'):
            model(torch.zeros(1, 1, 3, 64, 64))


def test_fine_tuning_tolerates_a_new_head_but_evaluation_does_not():
    """load_from to fine-tune: a head of another size (2 of 40 tensors) loads, the misfits are
    returned; evaluation and resuming (strict) refuse the same checkpoint; a checkpoint that
    fills less than 90% of the model is refused either way."""
    from mmbackbones.engine.hooks import CheckpointMismatchError, check_checkpoint_fits
    model = {f'backbone.{i}.weight': torch.zeros(4, 4) for i in range(38)}
    model.update({'head.fc.weight': torch.zeros(5, 4), 'head.fc.bias': torch.zeros(5)})
    pretrained = dict(model, **{'head.fc.weight': torch.zeros(80, 4),
                                'head.fc.bias': torch.zeros(80)})
    misfits = check_checkpoint_fits(model, {'state_dict': pretrained}, 'coco.pth', strict=False)
    assert misfits == ['head.fc.weight: checkpoint (80, 4) vs model (5, 4)',
                       'head.fc.bias: checkpoint (80,) vs model (5,)']
    with pytest.raises(CheckpointMismatchError, match=r'38 of 40 tensors match'):
        check_checkpoint_fits(model, {'state_dict': pretrained}, 'coco.pth', strict=True)
    partial = {k: v for k, v in list(model.items())[:35]}  # 35/40 < 90%
    with pytest.raises(CheckpointMismatchError, match=r'(?s)35 of 40 tensors match.*lacks: 5'):
        check_checkpoint_fits(model, partial, 'partial.pth', strict=False)
    # DDP's "module." prefix is what mmengine strips too
    ddp = {'module.' + k: v for k, v in model.items()}
    assert check_checkpoint_fits(model, {'state_dict': ddp}, 'ddp.pth', strict=True) == []
