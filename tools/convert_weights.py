"""Convert a foreign backbone checkpoint to mmbackbones' layout.

    python tools/convert_weights.py SRC.pth DST.pth --variant swin_tiny_patch4_window7_224 [--source timm]
    python tools/convert_weights.py SRC.pth DST.safetensors --variant resnet50   # for sharing

SRC may be a timm, torchvision, official or mmdet/mmseg checkpoint (a whole detector's too: its
`backbone.` part is taken). The layout is detected unless --source names it. The result is
checked against the variant's backbone before it is written: every tensor must fit. SRC is read
as pretrained weights (a mapping of names to tensors, also inside the usual wrappers), torch or
safetensors. DST is a torch checkpoint, or a safetensors file (--format safetensors, the default
for a .safetensors name), which holds tensors only and is the format to share weights in.
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


def main(argv=None):
    import mmbackbones
    from mmbackbones.weights import (NotACheckpointError, UnsafeCheckpointError, convert,
                                     detect_source, safe_load, unwrap_state_dict)
    args = parse_args(argv)
    if not os.path.isfile(args.src):
        sys.exit(f'convert_weights: {args.src} does not exist')
    model = mmbackbones.build_backbone(args.variant)  # default out_indices: every level
    try:
        state = unwrap_state_dict(safe_load(args.src, form='weights'))
    except (NotACheckpointError, UnsafeCheckpointError) as err:
        sys.exit(f'convert_weights: {err}')
    source = args.source or detect_source(state, model)
    converted = convert(state, args.variant, source, model=model)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    if unexpected:
        sys.exit(f'convert_weights: {len(unexpected)} converted keys have no place in '
                 f'{args.variant}: {unexpected[:8]}')
    meta = dict(variant=args.variant, source=source, converted_from=os.path.abspath(args.src))
    fmt = args.format or ('safetensors' if args.dst.endswith('.safetensors') else 'torch')
    if fmt == 'safetensors':
        from safetensors.torch import save_file
        # safetensors stores each tensor on its own: no views sharing memory
        save_file({k: v.detach().clone().contiguous() for k, v in converted.items()}, args.dst,
                  metadata=meta)
    else:
        torch.save({'state_dict': converted, 'meta': meta}, args.dst)
    print(f'{args.src} ({source} layout) -> {args.dst}: {len(converted)} tensors; '
          f'left at their initial values: {missing or "none"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
