"""No tool overwrites what a user owns, and every expected mistake ends in one ``error:`` line.

One test per item of the issue these checks come from, through the tools' command-line entry
points (``main(argv)`` under ``run_main``, exactly what ``python tools/X.py ARGS`` runs):

1. a new run into a work dir holding another run's checkpoints stops; ``--overwrite`` moves
   them aside;
2. ``--resume-or-start`` resumes from the newest intact checkpoint or refuses;
3. ``tools/convert_weights.py`` refuses what loading refuses and never leaves partial output;
4. ``tools/test.py`` writes under ``test/``, never over the training run's files;
5. ``--toy`` checks the backbone as the real run builds it;
6. the pre-flight data check catches the data mistakes mmdet / mmseg only hit later;
7. weights named by a URL say what to do offline;
8. common mistakes print one line, a traceback only with ``--debug``;
9. ``tools/compare.py`` with a relative ``--work-dir`` from outside the repository;
10. the README's examples name files that the steps before them create.

Nothing here trains: the checks under test all happen before training, so work dirs hold
fabricated checkpoints and the tools get a stand-in for mmengine's runner, except where what
the runner writes (tools/test.py) or loads (a refused checkpoint) is what is checked. To keep interpreter start-ups few, the cases of one tool run in one
process, each with its own captured stdout and stderr.
"""
import ast
import json
import os
import os.path as osp
import re
import shutil
import subprocess

import pytest
import torch

from tests.test_train_tools import (DET_TOY, PY, REPO, SEG_TOY, det_options, explain,
                                    seg_options)

TRAIN = osp.join(REPO, 'tools', 'train.py')
TEST = osp.join(REPO, 'tools', 'test.py')
CONVERT = osp.join(REPO, 'tools', 'convert_weights.py')
SEG_CONFIG = osp.join(REPO, SEG_TOY)
DET_CONFIG = osp.join(REPO, DET_TOY)

# Runs each case of a JSON file through a tool's main(argv), as `python TOOL ARGS` would
# (run_main for train.py / test.py, SystemExit for convert_weights.py), capturing its output.
CASE_RUNNER = r'''
import contextlib, importlib.util, io, json, os, sys, time, traceback
tool_path, cases_file = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location('tool_under_test', tool_path)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
run_main = getattr(tool, 'run_main', None)
if run_main is not None:
    from mmengine.runner import Runner
    real = Runner.__dict__['from_cfg']

class NoRunner:  # stands for the runner where what is checked happens before it is built
    def __init__(self, cfg):
        self.cfg = cfg

    def train(self):
        return None

    def test(self):
        return {'mIoU': 42.0}

def stub(mode):
    # 'runner': a stand-in for the runner; None: mmengine's own
    if run_main is not None:
        Runner.from_cfg = classmethod(lambda cls, cfg: NoRunner(cfg)) if mode == 'runner' \
            else real

results = {}
for name, case in json.load(open(cases_file)).items():
    stub(case.get('stub'))
    out, err, start = io.StringIO(), io.StringIO(), time.time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            argv = case['argv']
            sys.argv = [tool_path] + argv
            rc = run_main(lambda: tool.main(argv)) if run_main else tool.main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) or exc.code is None else 1
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            rc = 'traceback'
    results[name] = dict(rc=rc, out=out.getvalue(), err=err.getvalue(),
                         seconds=round(time.time() - start, 2))
print('@@RESULTS@@' + json.dumps(results))
'''


def run_cases(tool, cases, cwd, env=None):
    """``{name: dict(rc, out, err, seconds)}`` of ``cases`` (``{name: dict(argv=[...],
    stub=None | 'runner')}``) run through ``tool`` in one process started in ``cwd``."""
    cases_file = osp.join(cwd, f'.cases_{osp.basename(tool)}.json')
    with open(cases_file, 'w') as f:
        json.dump(cases, f)
    proc = subprocess.run([PY, '-c', CASE_RUNNER, tool, cases_file], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONUNBUFFERED='1', **(env or {})))
    marker = proc.stdout.rfind('@@RESULTS@@')
    assert marker >= 0, explain(proc)
    return json.loads(proc.stdout[marker + len('@@RESULTS@@'):])


def show(result):
    return f'exit {result["rc"]}\n--- stdout\n{result["out"][-3000:]}\n--- stderr\n' \
        f'{result["err"][-3000:]}'


def one_error_line(result, rc):
    """Exit ``rc``, one ``error:`` line, no traceback."""
    assert result['rc'] == rc, show(result)
    assert result['err'].count('error: ') == 1, show(result)
    assert 'Traceback' not in result['err'], show(result)


def fake_checkpoint(path, iteration=1):
    """A small but complete file in torch.save's format."""
    torch.save({'meta': {'iter': iteration}, 'state_dict': {}}, str(path))
    return str(path)


def truncated_checkpoint(path):
    fake_checkpoint(path)
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    return str(path)


def tree(root):
    """Relative path -> bytes of every file below ``root``."""
    found = {}
    for base, _, files in os.walk(root):
        for name in files:
            path = osp.join(base, name)
            found[osp.relpath(path, root)] = open(path, 'rb').read()
    return found


def earlier_run(work_dir, config_name='swin_upernet_ade20k.py'):
    """A work dir as a finished training leaves it: checkpoints, last_checkpoint, the saved
    config and a log folder."""
    os.makedirs(osp.join(work_dir, '20261201_120000', 'vis_data'))
    fake_checkpoint(osp.join(work_dir, 'iter_2.pth'), 2)
    fake_checkpoint(osp.join(work_dir, 'iter_4.pth'), 4)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'iter_4.pth'))
    with open(osp.join(work_dir, config_name), 'w') as f:
        f.write('# the config the earlier run was trained with\n')
    with open(osp.join(work_dir, '20261201_120000', '20261201_120000.log'), 'w') as f:
        f.write('the earlier run\'s log\n')
    return tree(work_dir)


# --------------------------------------------------------------------------- shared runs
@pytest.fixture(scope='module')
def small_toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    proc = subprocess.run([PY, osp.join(REPO, 'tools', 'make_toy_data.py'), '--out', str(root),
                           '--coco-train', '4', '--coco-val', '2', '--ade-train', '3',
                           '--ade-val', '2'], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, explain(proc)
    return str(root)


@pytest.fixture(scope='module')
def train_results(small_toy_root, tmp_path_factory):
    """Every tools/train.py case of this module, run in one process; the work dirs and what
    they held before are returned with the results."""
    root = str(tmp_path_factory.mktemp('train_cases'))
    seg = seg_options(small_toy_root, iters=2)
    toy = lambda *extra: [SEG_CONFIG, '--cfg-options'] + seg[:-1] + list(extra) + ['--toy']  # noqa: E731
    real = lambda *options: [SEG_CONFIG, '--work-dir', osp.join(root, 'never'),  # noqa: E731
                             '--cfg-options'] + list(options)
    dirs = {name: osp.join(root, name) for name in
            ('taken', 'overwrite', 'resume_or_start', 'all_damaged', 'auto_damaged')}
    before = {name: earlier_run(dirs[name]) for name in ('taken', 'overwrite')}
    # item 2: no last_checkpoint; the newest checkpoint was cut short by a full disk
    os.makedirs(dirs['resume_or_start'])
    fake_checkpoint(osp.join(dirs['resume_or_start'], 'iter_2.pth'), 2)
    truncated_checkpoint(osp.join(dirs['resume_or_start'], 'iter_4.pth'))
    os.utime(osp.join(dirs['resume_or_start'], 'iter_2.pth'), (1e9, 1e9))
    os.makedirs(dirs['all_damaged'])
    truncated_checkpoint(osp.join(dirs['all_damaged'], 'iter_4.pth'))
    os.makedirs(dirs['auto_damaged'])
    with open(osp.join(dirs['auto_damaged'], 'last_checkpoint'), 'w') as f:
        f.write(truncated_checkpoint(osp.join(dirs['auto_damaged'], 'iter_2.pth')))
    for name in ('resume_or_start', 'all_damaged'):
        before[name] = tree(dirs[name])
    # item 6 through the command line: a COCO file whose category names are not the classes
    coco = osp.join(root, 'renamed', 'toy_coco')
    shutil.copytree(osp.join(small_toy_root, 'toy_coco'), coco)
    ann = osp.join(coco, 'annotations', 'instances_train.json')
    data = json.load(open(ann))
    for cat in data['categories']:
        cat['name'] = f'shape_{cat["id"]}'
    json.dump(data, open(ann, 'w'))
    # item 6: an ADE20K image without its label file
    ade = osp.join(root, 'unlabelled')
    shutil.copytree(osp.join(small_toy_root, 'toy_ade'), osp.join(ade, 'toy_ade'))
    label = sorted(os.listdir(osp.join(ade, 'toy_ade', 'annotations', 'training')))[1]
    os.remove(osp.join(ade, 'toy_ade', 'annotations', 'training', label))
    not_a_dir = osp.join(root, 'a_file')
    open(not_a_dir, 'w').close()

    cases = {
        'taken': toy() + ['--work-dir', dirs['taken']],
        'overwrite': toy() + ['--work-dir', dirs['overwrite'], '--overwrite'],
        'resume_or_start': toy() + ['--work-dir', dirs['resume_or_start'], '--resume-or-start'],
        'all_damaged': toy() + ['--work-dir', dirs['all_damaged'], '--resume-or-start'],
        'toy_frozen_stages': toy('model.backbone.frozen_stages=7')
        + ['--work-dir', osp.join(root, 'toy_frozen')],
        'classes': [DET_CONFIG, '--work-dir', osp.join(root, 'det'), '--cfg-options']
        + det_options(osp.dirname(coco)),
        'missing_label': [SEG_CONFIG, '--work-dir', osp.join(root, 'seg'), '--cfg-options']
        + seg_options(ade, iters=2),
        'out_indices_out_of_range': real('model.backbone.out_indices=[0,5]'),
        'out_indices_empty': real('model.backbone.out_indices=[]'),
        'unknown_arch': real('model.backbone._delete_=True',
                             'model.backbone.type=mmbackbones.SwinTransformer',
                             'model.backbone.arch=tinyy'),
        'frozen_stages': real('model.backbone.frozen_stages=7'),
        'frozen_stages_debug': real('model.backbone.frozen_stages=7') + ['--debug'],
        'misspelt_argument': real('model.backbone.window_sise=7'),
        'resume_truncated': [SEG_CONFIG, '--work-dir', osp.join(root, 'never'), '--resume',
                             truncated_checkpoint(osp.join(root, 'cut.pth'))],
        'resume_auto_damaged': [SEG_CONFIG, '--work-dir', dirs['auto_damaged'], '--resume'],
        'unwritable_work_dir': [SEG_CONFIG, '--work-dir', osp.join(not_a_dir, 'run')],
    }
    results = run_cases(TRAIN, {k: dict(argv=v, stub='runner') for k, v in cases.items()}, root)
    return results, dirs, before


# --------------------------------------------------------------------------- 1, 2
def test_a_new_run_never_overwrites_another_runs_checkpoints(train_results):
    results, dirs, before = train_results
    taken = results['taken']
    one_error_line(taken, 1)
    assert f'error: work dir {dirs["taken"]} holds the checkpoints of an earlier run ' \
        '(iter_2.pth, iter_4.pth, last_checkpoint)' in taken['err'], show(taken)
    for way in ('--resume', '--work-dir DIR', '--overwrite', 'nothing is deleted'):
        assert way in taken['err'], show(taken)
    assert {k: v for k, v in tree(dirs['taken']).items() if k != '.lock'} == before['taken'], \
        'the refused run changed the work dir'

    moved = results['overwrite']
    assert moved['rc'] == 0, show(moved)
    asides = [d for d in os.listdir(dirs['overwrite']) if d.startswith('previous_run_')]
    assert len(asides) == 1, os.listdir(dirs['overwrite'])
    aside = osp.join(dirs['overwrite'], asides[0])
    assert f'--overwrite: the earlier run\'s files are now in {aside}' in moved['err']
    assert tree(aside) == before['overwrite']  # every file, byte for byte
    assert not [f for f in os.listdir(dirs['overwrite']) if f.endswith('.pth')]
    assert not osp.exists(osp.join(dirs['overwrite'], 'last_checkpoint'))


def test_resume_or_start_takes_the_newest_intact_checkpoint_or_refuses(train_results):
    results, dirs, before = train_results
    found = results['resume_or_start']
    assert found['rc'] == 0, show(found)
    work_dir = dirs['resume_or_start']
    assert re.search(rf'skipping {re.escape(osp.join(work_dir, "iter_4.pth"))}: not a complete '
                     r'torch checkpoint \(\d+ bytes', found['err']), show(found)
    assert f'resuming from {osp.join(work_dir, "iter_2.pth")}' in found['err'], show(found)
    assert 'starting from scratch' not in found['err']
    assert {k: v for k, v in tree(work_dir).items() if k.endswith('.pth')} == \
        before['resume_or_start']

    refused = results['all_damaged']
    one_error_line(refused, 1)
    work_dir = dirs['all_damaged']
    assert f'--resume-or-start: no intact checkpoint in {work_dir}' in refused['err']
    assert 'would overwrite them' in refused['err'] and '--overwrite' in refused['err']
    assert {k: v for k, v in tree(work_dir).items() if k != '.lock'} == before['all_damaged']


# --------------------------------------------------------------------------- 3
@pytest.fixture(scope='module')
def convert_results(tmp_path_factory):
    import torchvision
    root = str(tmp_path_factory.mktemp('convert'))
    r18 = osp.join(root, 'resnet18_tv.pth')
    torch.save(torchvision.models.resnet18().state_dict(), r18)
    kept = osp.join(root, 'kept.pth')
    open(kept, 'wb').write(b'an earlier conversion')
    os.makedirs(osp.join(root, 'sub'))
    cases = {
        'too_few_matched': [r18, kept, '--variant', 'resnet34'],
        'same_file': [r18, osp.join(root, 'sub', '..', 'resnet18_tv.pth'), '--variant', 'resnet18'],
        'no_folder': [r18, osp.join(root, 'nowhere', 'r18.pth'), '--variant', 'resnet18'],
        'unknown_variant': [r18, osp.join(root, 'x.pth'), '--variant', 'resnet_18'],
        'good': [r18, osp.join(root, 'sub', 'resnet18.pth'), '--variant', 'resnet18'],
    }
    sizes = {'src': open(r18, 'rb').read()}
    results = run_cases(CONVERT, {k: dict(argv=v) for k, v in cases.items()}, root)
    return results, root, sizes


def test_convert_weights_refuses_what_loading_refuses_and_writes_atomically(convert_results):
    results, root, before = convert_results
    partial = results['too_few_matched']
    assert partial['rc'] == 1, show(partial)
    assert 'matched only' in partial['err'] and 'tensors of ResNet' in partial['err']
    assert f'Nothing was written to {osp.join(root, "kept.pth")}' in partial['err']
    assert open(osp.join(root, 'kept.pth'), 'rb').read() == b'an earlier conversion'

    same = results['same_file']
    assert same['rc'] == 1 and 'is the source file itself' in same['err'], show(same)
    assert open(osp.join(root, 'resnet18_tv.pth'), 'rb').read() == before['src']

    nowhere = results['no_folder']
    assert nowhere['rc'] == 1, show(nowhere)
    assert f'cannot write {osp.join(root, "nowhere", "r18.pth")}: the folder ' \
        f'{osp.join(root, "nowhere")} does not exist' in nowhere['err']

    variant = results['unknown_variant']
    assert variant['rc'] == 1 and "--variant resnet_18: unknown variant 'resnet_18'" \
        in variant['err'], show(variant)

    good = results['good']
    assert good['rc'] == 0, show(good)
    assert sorted(os.listdir(osp.join(root, 'sub'))) == ['resnet18.pth']  # no temporary left
    for result in results.values():
        assert 'Traceback' not in result['err'], show(result)


# --------------------------------------------------------------------------- 4, 8 (test.py)
class _RunsACommand:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


@pytest.fixture(scope='module')
def test_results(small_toy_root, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('test_cases'))
    options = ['--cfg-options'] + seg_options(small_toy_root, iters=2)
    # the default work dir of the toy run, relative to where the tool runs
    default = osp.join(root, 'work_dirs', 'toy', 'swin_upernet_ade20k')
    explicit = osp.join(root, 'trained_here')
    before = {'default': earlier_run(default), 'explicit': earlier_run(explicit)}
    empty = osp.join(root, 'empty.pth')
    open(empty, 'w').close()
    unsafe = osp.join(root, 'unsafe.pth')
    torch.save({'state_dict': {}, 'meta': _RunsACommand()}, unsafe)
    checkpoint = osp.join(default, 'iter_4.pth')
    cases = {
        'default_work_dir': dict(argv=[SEG_CONFIG, checkpoint] + options, stub='runner'),
        'explicit_work_dir': dict(argv=[SEG_CONFIG, osp.join(explicit, 'iter_4.pth'),
                                        '--work-dir', explicit] + options, stub='runner'),
        'empty_checkpoint': dict(argv=[SEG_CONFIG, empty] + options),
        'truncated_checkpoint': dict(argv=[SEG_CONFIG, truncated_checkpoint(
            osp.join(root, 'cut.pth'))] + options),
        # a real runner, in the default work dir: it writes its config copy and log, then
        # refuses to load the checkpoint
        'unsafe_checkpoint': dict(argv=[SEG_CONFIG, unsafe] + options),
    }
    return run_cases(TEST, cases, root), dict(default=default, explicit=explicit), before


def test_test_py_writes_under_test_and_never_over_the_training_run(test_results):
    results, dirs, before = test_results
    for case in ('default_work_dir', 'explicit_work_dir'):
        result, work_dir = results[case], dirs[case.split('_')[0]]
        assert result['rc'] == 0, show(result)
        after = tree(work_dir)
        assert {k: v for k, v in after.items() if not k.startswith('test/')} == \
            before[case.split('_')[0]], f'{case}: the training run\'s files changed'
        assert json.loads(after['test/test_metrics.json']) == {'mIoU': 42.0}
    # the real runner of the unsafe_checkpoint case wrote its config copy and log under test/
    assert results['unsafe_checkpoint']['rc'] == 1, show(results['unsafe_checkpoint'])
    assert 'test/swin_upernet_ade20k.py' in tree(dirs['default'])
    assert [k for k in tree(dirs['default']) if k.startswith('test/') and k.endswith('.log')]
    assert f'{dirs["explicit"]} holds a training run; this evaluation writes into ' \
        f'{osp.join(dirs["explicit"], "test")}' in results['explicit_work_dir']['err']


# --------------------------------------------------------------------------- 5
def test_toy_run_checks_the_backbone_as_the_real_run_builds_it(train_results):
    result = train_results[0]['toy_frozen_stages']
    one_error_line(result, 2)
    assert f'error: {SEG_CONFIG}, built as its real run (before --toy adapts it to the CPU): ' \
        'model.backbone (mmbackbones.SwinTransformer): frozen_stages=7' in result['err'], \
        show(result)


# --------------------------------------------------------------------------- 6
@pytest.fixture(scope='module')
def det_cfg(small_toy_root):
    from mmengine.config import DictAction

    from mmbackbones.cli.launch import load_config, register_scope
    options = [o.split('=', 1) for o in det_options(small_toy_root) if o != '--toy']
    cfg = load_config(DET_CONFIG, {k: DictAction._parse_iterable(v) for k, v in options},
                      toy=True)
    register_scope(cfg)
    return cfg


def _damage(data, root, case):
    """Apply ``case`` to COCO ``data`` (train split under ``root``); return the texts the
    message must contain."""
    anns, images = data['annotations'], data['images']
    if case == 'classes':
        for cat in data['categories']:
            cat['name'] = cat['name'].upper()
        return ['categories of the file (5): RED_CIRCLE', 'classes of the config (5): red_circle',
                'metainfo']
    if case == 'no_images':
        data['images'] = []
        return ['lists no images']
    if case == 'no_annotations':
        data['annotations'] = []
        return ['has no annotations']
    if case == 'three_number_bbox':
        anns[2]['bbox'] = anns[2]['bbox'][:3]
        return [f'id {anns[2]["id"]}: {anns[2]["bbox"]!r}', 'not 4 numbers']
    if case == 'truncated_png':
        path = osp.join(root, 'train', images[1]['file_name'])
        body = open(path, 'rb').read()
        open(path, 'wb').write(body[:len(body) // 2])
        return [f'{path}: a truncated PNG']
    if case == 'every_box_degenerate':
        for ann in anns:
            ann['bbox'][2] = 0.0
        return ['every box has a non-positive width or height', f'ids {anns[0]["id"]}, ']
    if case == 'unknown_category':
        anns[1]['category_id'] = 99
        return [f'{anns[1]["id"]} (category_id 99)']
    if case == 'unknown_image':
        anns[1]['image_id'] = 999
        return [f'{anns[1]["id"]} (image_id 999)']
    if case == 'duplicate_image_id':
        images[2]['id'] = images[0]['id']
        return [f'image ids {images[0]["id"]} are used by more than one']
    raise ValueError(case)


@pytest.mark.parametrize('case', ['classes', 'no_images', 'no_annotations', 'three_number_bbox',
                                  'truncated_png', 'every_box_degenerate', 'unknown_category',
                                  'unknown_image', 'duplicate_image_id'])
def test_data_check_catches_coco_mistakes_before_the_model_is_built(det_cfg, small_toy_root,
                                                                     tmp_path, case):
    import copy

    from mmbackbones.cli.datacheck import BadDataError
    from mmbackbones.cli.launch import check_data
    root = tmp_path / 'toy_coco'
    shutil.copytree(osp.join(small_toy_root, 'toy_coco'), root)
    ann = root / 'annotations' / 'instances_train.json'
    data = json.loads(ann.read_text())
    expected = _damage(data, str(root), case)
    ann.write_text(json.dumps(data))
    cfg = copy.deepcopy(det_cfg)
    cfg.train_dataloader.dataset.data_root = str(root) + '/'
    with pytest.raises(BadDataError) as err:
        check_data(cfg, ('train', ))
    message = str(err.value)
    assert 'train_dataloader.dataset' in message
    if case != 'truncated_png':
        assert str(ann) in message, message
    for text in expected:
        assert text in message, message


def test_data_check_through_the_command_line(train_results):
    results = train_results[0]
    classes = results['classes']
    one_error_line(classes, 1)
    err = classes['err']
    assert "the config's classes are not the category names of " in err, show(classes)
    assert 'classes of the config (5): red_circle, green_square' in err
    assert 'categories of the file (5): shape_1, shape_2' in err
    assert '--cfg-options "train_dataloader.dataset.metainfo.classes=(shape_1,' in err

    unlabelled = results['missing_label']
    one_error_line(unlabelled, 1)
    assert re.search(r'1 of 3 images have no label file:\n  \S+/images/training/\S+\.jpg: no '
                     r'label file \S+/annotations/training/\S+\.png', unlabelled['err']), \
        show(unlabelled)


# --------------------------------------------------------------------------- 7
def test_every_url_scheme_offline_says_where_to_put_the_file(tmp_path):
    """A proxy that refuses every connection stands for no network."""
    script = (
        'import mmbackbones\n'
        'from mmbackbones.weights import load_pretrained\n'
        'for url in ("torchvision://resnet18", "open-mmlab://resnet50_v1c", "mmcls://resnet50",'
        ' "https://example.com/weights/r18.pth"):\n'
        '    try:\n'
        '        load_pretrained(mmbackbones.build_backbone("resnet18"), url)\n'
        '    except ConnectionError as err:\n'
        '        print(f"@@ {url}: {type(err).__name__}: {err}")\n')
    env = dict(os.environ, TORCH_HOME=str(tmp_path / 'torch'), https_proxy='http://127.0.0.1:9',
               http_proxy='http://127.0.0.1:9', HTTPS_PROXY='http://127.0.0.1:9',
               HTTP_PROXY='http://127.0.0.1:9', no_proxy='', NO_PROXY='')
    proc = subprocess.run([PY, '-c', script], capture_output=True, text=True, timeout=300,
                          env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, explain(proc)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('@@ ')]
    assert len(lines) == 4, explain(proc)
    cache = tmp_path / 'torch' / 'hub' / 'checkpoints'
    for line, file_url in zip(lines, (
            'https://download.pytorch.org/models/resnet18-f37072fd.pth',
            'https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth',
            'https://download.openmmlab.com/mmclassification/v0/resnet/'
            'resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            'https://example.com/weights/r18.pth')):
        name = file_url.rsplit('/', 1)[1]
        assert f'WeightsOfflineError: {file_url}: cannot download the weights' in line, line
        assert f'put it at {cache / name}' in line, line
        assert f'--cfg-options model.backbone.init_cfg.checkpoint=/path/to/{name}' in line
    assert not list(cache.glob('*.pth'))


# --------------------------------------------------------------------------- 8
@pytest.mark.parametrize('case, rc, expected', [
    ('out_indices_out_of_range', 2, 'out_indices=(0, 5) of SwinTransformer: index 5 is out of '
     'range; valid indices are 0..3'),
    ('out_indices_empty', 2, 'at least one level is needed; valid indices are 0..3'),
    ('unknown_arch', 2, "arch='tinyy' of SwinTransformer; valid values are"),
    ('frozen_stages', 2, 'frozen_stages=7 of SwinTransformer: valid values are -1'),
    ('misspelt_argument', 2, "unexpected keyword argument 'window_sise'. Did you mean "
     "'window_size'?"),
    ('resume_truncated', 2, 'cut.pth: the checkpoint is not a complete torch checkpoint'),
    ('resume_auto_damaged', 1, 'iter_2.pth, which is not a complete torch checkpoint'),
    ('unwritable_work_dir', 1, 'a_file/run: Not a directory. Pick a folder you can write to'),
])
def test_common_mistakes_in_train_py_print_one_line(train_results, case, rc, expected):
    result = train_results[0][case]
    one_error_line(result, rc)
    assert expected in result['err'], show(result)


def test_debug_shows_the_traceback(train_results):
    result = train_results[0]['frozen_stages_debug']
    assert result['rc'] == 'traceback' and 'Traceback' in result['err'], show(result)
    assert 'BackboneConfigError' in result['err']


@pytest.mark.parametrize('case, expected', [
    ('empty_checkpoint', 'empty.pth is empty (0 bytes)'),
    ('truncated_checkpoint', 'cut.pth is not a complete torch checkpoint'),
    ('unsafe_checkpoint', 'refused to load'),
])
def test_bad_checkpoints_to_test_py_print_one_line(test_results, case, expected):
    result = test_results[0][case]
    one_error_line(result, 2 if case != 'unsafe_checkpoint' else 1)
    assert expected in result['err'], show(result)
    assert 'pwned' not in result['out'] + result['err']


# --------------------------------------------------------------------------- 9
def test_compare_with_a_relative_work_dir_outside_the_repository(tmp_path):
    """Run from another folder, compare.py hands tools/train.py the work dir under that folder:
    here it holds an earlier run, so train.py stops, naming it."""
    run_dir = tmp_path / 'cmp' / 'swin_upernet_ade20k'
    run_dir.mkdir(parents=True)
    fake_checkpoint(run_dir / 'iter_4.pth')
    (run_dir / 'last_checkpoint').write_text(str(run_dir / 'iter_4.pth'))
    proc = subprocess.run([PY, osp.join(REPO, 'tools', 'compare.py'), 'swin', '--only',
                           'swin_upernet_ade20k', '--work-dir', 'cmp', '--no-latency', '--cfg-options',
                           f'train_dataloader.dataset.data_root={tmp_path / "no_data"}'],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, MPLBACKEND='Agg'))
    assert proc.returncode == 1, explain(proc)
    assert not osp.exists(osp.join(REPO, 'cmp'))
    train_out = (run_dir / 'train.out').read_text()
    assert f'error: work dir {run_dir} holds the checkpoints of an earlier run' in train_out, \
        train_out[-3000:]
    assert (tmp_path / 'cmp' / 'comparison.md').is_file()


# --------------------------------------------------------------------------- 10
def test_readme_test_example_names_a_checkpoint_make_demo_creates():
    """The README's tools/test.py example follows its Quick start (make demo): the checkpoint
    it names is where scripts/demo.sh trains the toy run of its config to, at its last epoch."""
    readme = open(osp.join(REPO, 'README.md')).read()
    demo = open(osp.join(REPO, 'scripts', 'demo.sh')).read()
    work_dir = re.search(r'WORK_DIR=\$\{DEMO_WORK_DIR:-([^}]+)\}', demo).group(1)
    config = re.search(r'^CONFIG=(\S+)', demo, re.M).group(1)
    toy = next(node.value for node in ast.parse(open(osp.join(REPO, config)).read()).body
               if isinstance(node, ast.Assign) and node.targets[0].id == 'toy')
    epochs = next(k.value.value for k in toy.keywords if k.arg == 'max_epochs')
    examples = re.findall(r'python tools/test\.py (\S+) (\S+\.pth)', readme)
    assert examples, 'the README has no tools/test.py example'
    for example_config, checkpoint in examples:
        assert (example_config, checkpoint) == (config, f'{work_dir}/epoch_{epochs}.pth')
