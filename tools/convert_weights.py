"""Convert a foreign backbone checkpoint to mmbackbones' layout.

    python tools/convert_weights.py SRC.pth DST.pth --variant swin_tiny_patch4_window7_224 [--source timm]
    python tools/convert_weights.py SRC.pth DST.safetensors --variant resnet50   # for sharing

SRC may be a timm, torchvision, official or mmdet/mmseg checkpoint (a whole detector's too: its
`backbone.` part is taken). The layout is detected unless --source names it. The result is
checked against the variant's backbone before it is written, by the rule loading applies (every
tensor must fit, and at least 90% of the backbone's tensors must be filled), and written
atomically (a temporary file renamed into place): a refused or failed conversion leaves DST as it
was. SRC and DST must be different files. SRC is read as pretrained weights (a mapping of names
to tensors, also inside the usual wrappers), torch or safetensors. DST is a torch checkpoint, or a
safetensors file (--format safetensors, the default for a .safetensors name), which holds tensors
only and is the format to share weights in.
"""
import argparse
import os
import sys

import torch


def parse_args(argv=None):
    from mmbackbones.weights import SOURCES
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--variant', required=True, help='zoo variant (mmbackbones.list_variants())')
    parser.add_argument('--source', choices=SOURCES, default=None,
                        help='layout of SRC; detected when omitted')
    parser.add_argument('--format', choices=('torch', 'safetensors'), default=None,
                        help='format of DST; safetensors for a .safetensors name, else torch')
    return parser.parse_args(argv)


def check_destination(src, dst):
    """DST must not be SRC (a converted file would replace its own source) and its folder must
    be writable; exits with a message naming the path otherwise."""
    if os.path.realpath(src) == os.path.realpath(dst) or (
            os.path.exists(dst) and os.path.samefile(src, dst)):
        sys.exit(f'convert_weights: {dst} is the source file itself; write the converted '
                 'checkpoint to another path')
    if os.path.isdir(dst):
        sys.exit(f'convert_weights: {dst} is a directory; give the file to write, e.g. '
                 f'{os.path.join(dst, os.path.basename(src))}')
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        sys.exit(f'convert_weights: cannot write {dst}: the folder {folder} does not exist')
    if not os.access(folder, os.W_OK | os.X_OK):
        sys.exit(f'convert_weights: cannot write {dst}: the folder {folder} is not writable')


def save_atomically(write, dst):
    """``write(path)`` to a temporary file next to ``dst``, renamed into place when complete."""
    folder = os.path.dirname(os.path.abspath(dst))
    tmp = os.path.join(folder, f'.{os.path.basename(dst)}.tmp-{os.getpid()}')
    try:
        write(tmp)
        os.replace(tmp, dst)
    except (OSError, RuntimeError) as err:  # torch reports a failed write as RuntimeError
        detail = getattr(err, 'strerror', None) or str(err).strip().splitlines()[0]
        sys.exit(f'convert_weights: cannot write {dst}: {detail}')
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    import mmbackbones
    from mmbackbones.weights import (NotACheckpointError, UnsafeCheckpointError, convert,
                                     detect_source, safe_load, unwrap_state_dict)
    from mmbackbones.weights.convert import PretrainedMismatchError, check_fits
    args = parse_args(argv)
    if not os.path.exists(args.src):
        sys.exit(f'convert_weights: {args.src} does not exist')
    if not os.path.isfile(args.src):  # a FIFO or a device would block or never end
        sys.exit(f'convert_weights: {args.src} is not a regular file')
    check_destination(args.src, args.dst)
    try:
        model = mmbackbones.build_backbone(args.variant)  # default out_indices: every level
    except KeyError as err:  # an unknown variant: the message lists the closest names
        sys.exit(f'convert_weights: --variant {args.variant}: {err.args[0]}')
    try:
        state = unwrap_state_dict(safe_load(args.src, form='weights'))
    except (NotACheckpointError, UnsafeCheckpointError) as err:
        sys.exit(f'convert_weights: {err}')
    source = args.source or detect_source(state, model)
    converted = convert(state, args.variant, source, model=model)
    try:  # the rule loading applies (mmbackbones.weights.load_pretrained)
        missing, unexpected, _ = check_fits(converted, model, args.src, source)
    except PretrainedMismatchError as err:
        sys.exit(f'convert_weights: {err} Nothing was written to {args.dst}.')
    if unexpected:
        sys.exit(f'convert_weights: {len(unexpected)} converted keys have no place in '
                 f'{args.variant}: {unexpected[:8]}')
    meta = dict(variant=args.variant, source=source, converted_from=os.path.abspath(args.src))
    fmt = args.format or ('safetensors' if args.dst.endswith('.safetensors') else 'torch')
    if fmt == 'safetensors':
        from safetensors.torch import save_file
        # safetensors stores each tensor on its own: no views sharing memory
        tensors = {k: v.detach().clone().contiguous() for k, v in converted.items()}
        save_atomically(lambda path: save_file(tensors, path, metadata=meta), args.dst)
    else:
        save_atomically(lambda path: torch.save({'state_dict': converted, 'meta': meta}, path),
                        args.dst)
    print(f'{args.src} ({source} layout) -> {args.dst}: {len(converted)} tensors; '
          f'left at their initial values: {missing or "none"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
