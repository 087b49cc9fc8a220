"""Checks of the data a config reads, before a runner is built, with messages naming the file.

Cheap by design: a COCO annotation file is parsed once (mmdet parses it again later), and every
image it lists is only ``stat``-ed and its first bytes compared with the signatures of the
formats OpenCV reads; nothing is decoded.
"""
import json
import os
import os.path as osp
import sys

__all__ = ['BadDataError', 'check_coco_annotation', 'scan_images', 'scan_image_dir']

# Signatures of JPEG, PNG, GIF, BMP, TIFF (both byte orders); WebP is RIFF....WEBP.
_SIGNATURES = (b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'GIF87a', b'GIF89a', b'BM',
               b'II*\x00', b'MM\x00*')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.gif')
_SHOWN = 10


class BadDataError(ValueError):
    """A data file the config reads exists but cannot be used."""


def image_problem(path):
    """``None`` for a plausible image file, else what is wrong with it."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return 'missing'
    except OSError as err:
        return f'cannot be read ({err.strerror})'
    if size == 0:
        return 'empty (0 bytes)'
    try:
        with open(path, 'rb') as f:
            head = f.read(12)
    except OSError as err:
        return f'cannot be read ({err.strerror})'
    if head.startswith(_SIGNATURES) or (head[:4] == b'RIFF' and head[8:12] == b'WEBP'):
        return None
    return f'not an image (it starts with {head[:8]!r}; {size} bytes)'


def _report(problems, total, what):
    lines = [f'  {path}: {problem}' for path, problem in problems[:_SHOWN]]
    if len(problems) > _SHOWN:
        lines.append(f'  ... and {len(problems) - _SHOWN} more')
    return (f'{what}: {len(problems)} of {total} images cannot be used:\n' + '\n'.join(lines)
            + '\nReplace these files, or remove them (and their entries in the annotation '
            'file), then rerun.')


def scan_images(paths, what):
    """Raise :class:`BadDataError` listing the unusable files among ``paths``."""
    problems = [(p, problem) for p in paths for problem in [image_problem(p)] if problem]
    if problems:
        raise BadDataError(_report(problems, len(paths), what))


def scan_image_dir(folder, what):
    """:func:`scan_images` over every image file below ``folder`` (as mmseg lists them)."""
    paths = []
    for base, _, files in os.walk(folder, followlinks=True):
        paths += [osp.join(base, f) for f in files if f.lower().endswith(IMAGE_SUFFIXES)]
    scan_images(sorted(paths), what)
    return len(paths)


def load_json(path, what):
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as err:
        raise BadDataError(f'{what}: cannot read {path} ({err.strerror})') from None
    try:
        return json.loads(data)
    except ValueError as err:
        size = len(data)
        where = (f'line {err.lineno} column {err.colno}' if hasattr(err, 'lineno')
                 else 'somewhere')
        truncated = ''
        if getattr(err, 'pos', 0) >= len(data.rstrip()) - 1:
            truncated = ' The file ends too early: it looks truncated (an interrupted ' \
                        'download or copy); fetch or extract it again.'
        raise BadDataError(f'{what}: {path} is not valid JSON ({getattr(err, "msg", err)} at '
                           f'{where}, {size} bytes).{truncated}') from None


def check_coco_annotation(path, what, need_annotations=True, cache=None):
    """Parse a COCO-format file; return it. Raises :class:`BadDataError` naming ``path`` when
    it is not valid JSON or lacks the keys mmdet reads, and warns (once per file) about boxes
    of non-positive width or height. ``cache`` (a dict) spares parsing a file twice."""
    cache = {} if cache is None else cache
    first = path not in cache
    if first:
        cache[path] = load_json(path, what)
    data = cache[path]
    required = ('images', 'annotations', 'categories') if need_annotations else ('images', )
    lacking = [k for k in required if not isinstance(data, dict) or k not in data]
    if lacking:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise BadDataError(
            f'{what}: {path} is not a COCO annotation file: it lacks '
            f'{" and ".join(repr(k) for k in lacking)} (its top level has {keys}). A COCO '
            'file is a JSON object with "images", "annotations" and "categories" lists.')
    if not first:
        return data
    bad = [ann.get('id') for ann in data.get('annotations') or []
           if isinstance(ann, dict) and isinstance(ann.get('bbox'), (list, tuple))
           and len(ann['bbox']) == 4 and (ann['bbox'][2] <= 0 or ann['bbox'][3] <= 0)]
    if bad:
        total = len(data['annotations'])
        print(f'[mmbackbones] warning: {path}: {len(bad)} of {total} boxes have a non-positive '
              f'width or height (annotation ids {", ".join(map(str, bad[:_SHOWN]))}'
              f'{", ..." if len(bad) > _SHOWN else ""}); mmdet skips them in training',
              file=sys.stderr)
    return data
