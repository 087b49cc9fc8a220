"""Export a backbone to ONNX and check the file against PyTorch (docs/deploy.md).

    python tools/export.py resnet50 --onnx resnet50.onnx --deploy
    python tools/export.py configs/resnest50_cascade_rcnn.py --onnx r.onnx --input 800x1216
    python tools/export.py swin_tiny_patch4_window7_224 --onnx swin.onnx --input 224x224

The batch, height and width axes of the input are dynamic where the family allows it (a family
whose graph depends on the input size, like Swin's window padding, keeps the height and width
given by ``--input``, dynamic batch only, and says so). The exported file is then run in
onnxruntime at two input sizes (two batch sizes where the size is fixed) and compared with the
PyTorch model; any output differing by more than ``--atol`` makes the tool exit with status 1.
"""
import argparse
import os.path as osp
import sys
import warnings
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

import mmbackbones  # noqa: E402
from mmbackbones.zoo import get_variant, list_variants  # noqa: E402


class ExportMismatch(Exception):
    """The ONNX file's outputs differ from PyTorch's."""


def build_model(target: str, checkpoint: Optional[str] = None):
    """The backbone a zoo variant name or a config file (its ``model.backbone``) describes."""
    if target.endswith('.py'):
        from mmbackbones.cli.launch import load_config
        cfg = load_config(target)
        backbone = cfg.get('model', {}).get('backbone')
        if backbone is None:
            raise ValueError(f'{target}: the config has no model.backbone')
        backbone = dict(backbone)
        backbone.pop('init_cfg', None)  # weights come from --checkpoint, never downloaded
        backbone.pop('pretrained', None)
        if not str(backbone.get('type', '')).startswith('mmbackbones.'):
            raise ValueError(f"{target}: model.backbone.type={backbone.get('type')!r} is not "
                             "an mmbackbones backbone ('mmbackbones.<Class>')")
        model = mmbackbones.MODELS.build(backbone)
    else:
        model = mmbackbones.build_backbone(target)
    if checkpoint:
        from mmbackbones.weights import load_pretrained
        load_pretrained(model, checkpoint)
    return model.eval()


def dynamic_hw(model) -> bool:
    return getattr(model, 'onnx_dynamic_hw', True)


def export_onnx(model, path: str, size: Tuple[int, int], dynamic: bool = True) -> None:
    """Write ``model`` (eval mode) to ``path``; batch always dynamic, height and width too when
    ``dynamic`` (refused with the family's reason where its graph depends on the size)."""
    if dynamic and not dynamic_hw(model):
        raise ValueError(f'{type(model).__name__} cannot be exported with a dynamic height and '
                         f'width: {model.onnx_static_reason}. Export it at the size it will '
                         'run at (--input HxW; the batch stays dynamic)')
    axes = {0: 'batch', 2: 'height', 3: 'width'} if dynamic else {0: 'batch'}
    outputs = [f'level{i}' for i in model.out_indices]
    x = torch.rand(1, _in_channels(model), *size)
    # The TorchScript exporter: the dynamo exporter also works for the CNN families, but takes
    # three times as long and cannot trace Swin's per-shape caches with a symbolic batch.
    # Its warnings (deprecation; Python conditions traced as constants) are silenced: what
    # matters is checked afterwards by running the file at two sizes (check_onnx).
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(model, (x, ), path, input_names=['input'], output_names=outputs,
                          dynamic_axes={'input': axes, **{o: axes for o in outputs}},
                          opset_version=17, dynamo=False)


def _in_channels(model) -> int:
    return model._deploy_in_channels()


def check_sizes(size: Tuple[int, int], dynamic: bool) -> List[Tuple[int, int, int]]:
    """(batch, H, W) of the two checks: the export size and, where dynamic, a different one."""
    h, w = size
    if not dynamic:
        return [(1, h, w), (2, h, w)]
    return [(1, h, w), (2, h + h // 2 + 1, max(w - w // 4 + 3, 32))]


def check_onnx(model, path: str, shapes: Sequence[Tuple[int, int, int]],
               atol: float = 1e-4) -> List[float]:
    """Run ``path`` in onnxruntime and ``model`` in PyTorch on the same random inputs; returns
    the largest absolute difference per shape, raises :class:`ExportMismatch` above ``atol``."""
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    gen = torch.Generator().manual_seed(0)
    errors = []
    for batch, h, w in shapes:
        x = torch.rand(batch, _in_channels(model), h, w, generator=gen)
        with torch.no_grad():
            expected = model(x)
        got = session.run(None, {'input': x.numpy()})
        if len(got) != len(expected):
            raise ExportMismatch(f'{len(got)} ONNX outputs, {len(expected)} PyTorch outputs')
        diffs = []
        for e, g in zip(expected, got):
            if tuple(e.shape) != g.shape:
                raise ExportMismatch(f'input {batch}x{h}x{w}: ONNX output {g.shape}, PyTorch '
                                     f'{tuple(e.shape)}')
            diffs.append(float(np.abs(e.numpy() - g).max()))
        errors.append(max(diffs))
        if max(diffs) > atol:
            raise ExportMismatch(f'input {batch}x{h}x{w}: ONNX outputs differ from PyTorch by '
                                 f'up to {max(diffs):.3g} (per output {diffs}), above atol {atol}')
    return errors


# ------------------------------------------------------------------------------ CLI
def _size(text: str) -> Tuple[int, int]:
    parts = text.lower().split('x')
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HxW (e.g. 224x224), got {text!r}') from None
    if h < 32 or w < 32:
        raise argparse.ArgumentTypeError(f'height and width must be >= 32, got {text!r}')
    return h, w


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a backbone to ONNX (dynamic batch, height and width) and check the '
        'file in onnxruntime against PyTorch.')
    parser.add_argument('target', metavar='VARIANT|CONFIG',
                        help='a zoo variant name or a config file with an mmbackbones backbone')
    parser.add_argument('--onnx', required=True, metavar='OUT', help='the .onnx file to write')
    parser.add_argument('--deploy', action='store_true',
                        help='export the deploy form (switch_to_deploy(): BatchNorm folded)')
    parser.add_argument('--input', type=_size, default=None, metavar='HxW',
                        help="export size (default: the variant's test input, else 224x224)")
    parser.add_argument('--checkpoint', help='weights to load first (any supported layout)')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='largest allowed |ONNX - PyTorch| (default 1e-4)')
    args = parser.parse_args(argv)
    if not args.target.endswith('.py'):
        try:
            get_variant(args.target)
        except KeyError as e:
            parser.error(e.args[0])
    elif not osp.isfile(args.target):
        parser.error(f'config file not found: {args.target}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    model = build_model(args.target, args.checkpoint)
    size = args.input
    if size is None:
        size = (get_variant(args.target).test_input if args.target in list_variants()
                else (224, 224))
    if args.deploy:
        model.switch_to_deploy()
    dynamic = dynamic_hw(model)
    if not dynamic:
        print(f'note: {type(model).__name__}: height and width fixed at {size[0]}x{size[1]} '
              f'(batch dynamic): {model.onnx_static_reason}')
        if hasattr(model, 'set_input_size'):  # resize position tables once, not in the graph
            model.set_input_size(size)
    export_onnx(model, args.onnx, size, dynamic)
    shapes = check_sizes(size, dynamic)
    try:
        errors = check_onnx(model, args.onnx, shapes, args.atol)
    except ExportMismatch as e:
        print(f'error: {args.onnx} does not match PyTorch: {e}', file=sys.stderr)
        return 1
    c = _in_channels(model)
    checked = ', '.join(f'{b}x{c}x{h}x{w}: max |diff| {e:.2g}'
                        for (b, h, w), e in zip(shapes, errors))
    print(f'wrote {args.onnx} ({"deploy" if args.deploy else "training"} form); onnxruntime '
          f'matches PyTorch at {checked}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
