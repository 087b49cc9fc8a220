"""tools/benchmark.py runs end to end on a tiny case; no timing thresholds (machines differ)."""
import importlib.util
import os.path as osp

import pytest

pytest.importorskip('timm')

_TOOL = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools', 'benchmark.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('mmbackbones_benchmark_tool', _TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    return _load_tool()


def test_tiny_run_has_a_row_per_implementation(tool, tmp_path, capsys):
    threads = tool.torch.get_num_threads()
    output = tmp_path / 'bench.md'
    rows = tool.main(['resnet18', '--batch-sizes', '1', '--size', '64', '64', '--warmup', '1',
                      '--repeats', '2', '--refs', 'timm', '--threads', '2',
                      '--output', str(output)])
    assert [r['impl'] for r in rows] == ['ours', 'timm']
    for row in rows:
        assert row['variant'] == 'resnet18' and row['batch'] == 1 and row['runs'] == 2
        assert row['median_ms'] > 0 and row['iqr_ms'] >= 0 and row['ratio'] > 0
    assert rows[0]['ratio'] == pytest.approx(1.0)
    text = output.read_text()
    assert '| `resnet18` | 1 | ours |' in text and '| `resnet18` | 1 | timm (resnet18) |' in text
    assert 'torch ' in text and 'CPU: ' in text
    assert 'timm (resnet18)' in capsys.readouterr().out
    assert tool.torch.get_num_threads() == threads  # --threads does not leak into the caller


def test_unknown_variant_reports_the_zoo_error(tool, capsys):
    with pytest.raises(SystemExit):
        tool.main(['resnet5O'])
    assert "unknown variant 'resnet5O'" in capsys.readouterr().err


def test_unknown_reference_lists_the_valid_ones(tool, capsys):
    with pytest.raises(SystemExit):
        tool.main(['resnet18', '--refs', 'timm,detectron2'])
    err = capsys.readouterr().err
    assert "'detectron2'" in err and 'timm, torchvision, mmdet' in err


def test_missing_reference_is_a_note_not_a_failure(tool):
    notes = []
    variant = tool.get_variant('resnest14d')  # timm only: torchvision has no ResNeSt
    rows = tool.benchmark_variant(variant, ['torchvision'], [1], (64, 64), 0, 1, False,
                                  tool.torch.device('cpu'), notes)
    assert [r['impl'] for r in rows] == ['ours']
    assert notes and 'torchvision' in notes[0]


def test_deploy_rows_time_the_deploy_form_against_the_others(tool, capsys):
    rows = tool.main(['resnet18', '--deploy', '--batch-sizes', '1', '--size', '64', '64',
                      '--warmup', '0', '--repeats', '1', '--refs', 'timm', '--threads', '1'])
    assert [r['impl'] for r in rows] == ['ours', 'ours-train', 'ours-deploy-cl', 'timm']
    assert rows[0]['model'] == 'resnet18, deploy form' and rows[0]['ratio'] == pytest.approx(1.0)
    assert 'ours (resnet18, deploy form)' in capsys.readouterr().out


def test_training_mode_reports_time_and_peak_memory(tool, capsys):
    """--train: a forward + backward per round and each side's peak memory of one step, which
    holds at least its float32 parameters and their gradients; --with-cp keeps only the sides
    that can checkpoint (torchvision cannot)."""
    rows = tool.main(['resnet18', '--train', '--with-cp', '--batch-sizes', '1', '--size', '64',
                      '64', '--warmup', '0', '--repeats', '1', '--refs', 'timm,torchvision',
                      '--threads', '1'])
    assert [r['impl'] for r in rows] == ['ours', 'timm']
    params = tool.get_variant('resnet18').params
    for row in rows:
        assert row['median_ms'] > 0 and row['peak_mb'] >= 2 * 4 * params / 2 ** 20
    out = capsys.readouterr().out
    assert 'train-step peak MiB' in out and 'torchvision skipped' in out
    with pytest.raises(SystemExit):
        tool.main(['resnet18', '--with-cp'])
    assert '--with-cp needs --train' in capsys.readouterr().err


def test_with_cp_skips_a_timm_model_that_refuses_checkpointing(tool):
    """timm's HRNet answers set_grad_checkpointing(True) with an AssertionError: --with-cp
    leaves it out as unavailable (a note) instead of ending the run."""
    import timm
    with tool.torch.device('meta'):  # set_grad_checkpointing reads no weights
        model = timm.create_model('hrnet_w18_small', pretrained=False)
    impl = tool.Impl('timm', 'hrnet_w18_small', model, model)
    with pytest.raises(tool.ReferenceUnavailable, match='hrnet_w18_small'):
        tool.enable_checkpointing(impl)


def test_deploy_times_a_references_own_deploy_form_too(tool, monkeypatch):
    """mmyolo's RepVGG blocks re-parameterise themselves: '--deploy' adds mmyolo after its own
    switch_to_deploy (a fused copy: every RepVGGBlock left with its single 3x3 convolution,
    the original untouched), checked against its training form; timm's ResNet has none."""
    pytest.importorskip('mmyolo')
    from mmyolo.models.layers import RepVGGBlock
    made = []

    def recording(impl):
        made.append((impl, tool.reference_deploy.__wrapped__(impl)))
        return made[-1][1]

    recording.__wrapped__ = tool.reference_deploy
    monkeypatch.setattr(tool, 'reference_deploy', recording)
    notes = []
    rows = tool.benchmark_variant(tool.get_variant('efficientrep_n'), ['mmyolo'], [1], (64, 96),
                                  0, 1, False, tool.torch.device('cpu'), notes, deploy=True)
    assert [r['impl'] for r in rows] == ['ours', 'ours-train', 'ours-deploy-cl', 'mmyolo',
                                         'mmyolo-deploy']
    assert rows[-1]['model'] == 'YOLOv6EfficientRep, its own switch_to_deploy'
    assert not notes  # same feature shapes, and the fused copy's outputs equal the original's
    (original, deployed), = made
    fused = [m for m in deployed.module.modules() if isinstance(m, RepVGGBlock)]
    assert fused and all(hasattr(b, 'rbr_reparam') and not hasattr(b, 'rbr_dense') for b in fused)
    assert all(hasattr(b, 'rbr_dense') for b in original.module.modules()
               if isinstance(b, RepVGGBlock))
    resnet = tool.Impl('timm', 'resnet18', tool.build_reference('resnet18', 'timm').model, None)
    assert recording.__wrapped__(resnet) is None


def test_memory_reports_the_peak_of_one_inference_forward(tool, capsys):
    """--memory: each side's peak of one forward under inference_mode holds at least its float32
    parameters, and grows with the input (the activations); --train has its own peak."""
    def peaks(size):
        rows = tool.main(['regnetx_002', '--memory', '--batch-sizes', '1', '--size', size, size,
                          '--warmup', '0', '--repeats', '1', '--refs', 'timm', '--threads', '1'])
        assert [r['impl'] for r in rows] == ['ours', 'timm'] and 'peak_mb' not in rows[0]
        return [r['forward_peak_mb'] for r in rows]

    params = 4 * tool.get_variant('regnetx_002').params / 2 ** 20
    small, large = peaks('64'), peaks('192')  # 9 times the pixels
    for a, b in zip(small, large):
        assert params <= a < b
    assert 'forward peak MiB' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        tool.main(['regnetx_002', '--memory', '--train'])
    assert '--memory is for inference' in capsys.readouterr().err
