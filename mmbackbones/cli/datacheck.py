"""Checks of the data a config reads, before a runner is built, with messages naming the file.

Cheap by design: a COCO annotation file is parsed once (mmdet parses it again later), and every
image it lists is only ``stat``-ed and its first bytes compared with the signatures of the
formats OpenCV reads; nothing is decoded.
"""
import json
import os
import os.path as osp
import sys

__all__ = ['BadDataError', 'check_coco_annotation', 'check_coco_classes', 'scan_images',
           'scan_image_dir', 'check_seg_labels']

# Signatures of JPEG, PNG, GIF, BMP, TIFF (both byte orders); WebP is RIFF....WEBP.
_SIGNATURES = (b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'GIF87a', b'GIF89a', b'BM',
               b'II*\x00', b'MM\x00*')
_PNG = b'\x89PNG\r\n\x1a\n'
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
    if head.startswith(_PNG):
        # A PNG ends with its IEND chunk; without it the file was cut short (a copy or download
        # that stopped), which the data loader only finds mid-run.
        try:
            with open(path, 'rb') as f:
                f.seek(max(0, size - 64))
                tail = f.read()
        except OSError as err:
            return f'cannot be read ({err.strerror})'
        return None if b'IEND' in tail else \
            f'a truncated PNG (it does not end with the IEND chunk; {size} bytes)'
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


def _ids(values):
    shown = ', '.join(map(str, values[:_SHOWN]))
    return shown + (f', ... ({len(values)} in all)' if len(values) > _SHOWN else '')


def _check_coco_records(data, path, what, need_annotations):
    """The records mmdet reads: a non-empty ``images`` list with unique ids and, for training,
    annotations with known image and category ids and a 4-number ``bbox``, not all degenerate.
    Raises :class:`BadDataError` naming the file and the ids; warns about degenerate boxes."""
    images = data['images']
    if not isinstance(images, list) or not images:
        raise BadDataError(f'{what}: {path} lists no images ("images" is '
                           f'{"empty" if isinstance(images, list) else type(images).__name__}); '
                           'nothing to train or evaluate on. Point the config at the right '
                           'annotation file.')
    seen, duplicates = set(), []
    for img in images:
        img_id = img.get('id') if isinstance(img, dict) else None
        if img_id in seen and img_id not in duplicates:
            duplicates.append(img_id)
        seen.add(img_id)
    if duplicates:
        raise BadDataError(f'{what}: {path}: image ids {_ids(duplicates)} are used by more than '
                           'one entry of "images"; mmdet keeps one of each and pairs the '
                           'annotations with it. Give every image its own id.')
    annotations = data.get('annotations')
    if not need_annotations:
        return
    if not isinstance(annotations, list) or not annotations:
        raise BadDataError(f'{what}: {path} has no annotations ("annotations" is empty): '
                           'there is nothing to train on. Point the config at the annotation '
                           'file of the training split.')
    if isinstance(annotations[0], dict) and 'segments_info' in annotations[0]:
        return  # COCO panoptic: one record per image, its segments carry the boxes
    categories = {c.get('id') for c in data.get('categories') or [] if isinstance(c, dict)}
    bad_box, bad_image, bad_category, degenerate = [], [], [], []
    for ann in annotations:
        if not isinstance(ann, dict):
            continue
        box = ann.get('bbox')
        if not (isinstance(box, (list, tuple)) and len(box) == 4
                and all(isinstance(v, (int, float)) for v in box)):
            bad_box.append((ann.get('id'), box))
        elif box[2] <= 0 or box[3] <= 0:
            degenerate.append(ann.get('id'))
        if ann.get('image_id') not in seen:
            bad_image.append((ann.get('id'), ann.get('image_id')))
        if ann.get('category_id') not in categories:
            bad_category.append((ann.get('id'), ann.get('category_id')))
    if bad_box:
        listed = '; '.join(f'id {i}: {b!r}' for i, b in bad_box[:_SHOWN])
        raise BadDataError(f'{what}: {path}: {len(bad_box)} annotations have a "bbox" that is '
                           f'not 4 numbers [x, y, width, height] ({listed}). Fix or remove them.')
    if bad_image:
        listed = ', '.join(f'{i} (image_id {m})' for i, m in bad_image[:_SHOWN])
        raise BadDataError(f'{what}: {path}: {len(bad_image)} annotations name an image id that '
                           f'is not in "images": annotation ids {listed}. mmdet would drop them '
                           'silently; fix the image ids or add the images.')
    if bad_category:
        listed = ', '.join(f'{i} (category_id {c})' for i, c in bad_category[:_SHOWN])
        raise BadDataError(f'{what}: {path}: {len(bad_category)} annotations name a category id '
                           f'that is not in "categories" (ids {sorted(categories, key=str)}): '
                           f'annotation ids {listed}. Fix the category ids or add the '
                           'categories.')
    if degenerate and len(degenerate) == len(annotations):
        raise BadDataError(f'{what}: {path}: every box has a non-positive width or height '
                           f'(annotation ids {_ids(degenerate)}); mmdet skips such boxes, so '
                           'training would learn nothing. COCO boxes are [x, y, width, height]: '
                           'were they written as [x1, y1, x2, y2] of another format?')
    if degenerate:
        print(f'[mmbackbones] warning: {path}: {len(degenerate)} of {len(annotations)} boxes '
              f'have a non-positive width or height (annotation ids {_ids(degenerate)}); '
              'mmdet skips them in training', file=sys.stderr)


def check_coco_annotation(path, what, need_annotations=True, cache=None):
    """Parse a COCO-format file; return it. Raises :class:`BadDataError` naming ``path`` when
    it is not valid JSON, lacks the keys mmdet reads or holds records mmdet would drop or choke
    on (:func:`_check_coco_records`), and warns (once per file) about boxes of non-positive
    width or height. ``cache`` (a dict) spares parsing a file twice."""
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
    checked = cache.setdefault('_checked', set())
    if (path, need_annotations) not in checked:
        _check_coco_records(data, path, what, need_annotations)
        checked.add((path, need_annotations))
    return data


def check_coco_classes(data, path, what, classes, key):
    """The config's ``classes`` must all be category names of the file: mmdet keeps only the
    annotations whose category name is one of them (none at all when the names differ)."""
    names = [c.get('name') for c in data.get('categories') or [] if isinstance(c, dict)]
    absent = [c for c in classes if c not in names]
    if not absent or not names:
        return
    listed = ', '.join(map(str, names))
    if any(' ' in n or ',' in n for n in names):
        option = f'{key}.metainfo=dict(classes=({", ".join(map(repr, names))},)) in the config'
    else:
        option = f'--cfg-options "{key}.metainfo.classes=({",".join(names)},)"'
    raise BadDataError(
        f'{what}: the config\'s classes are not the category names of {path}: '
        f'{len(absent)} of its {len(classes)} classes are not there ({", ".join(map(repr, absent[:_SHOWN]))}'
        f'{", ..." if len(absent) > _SHOWN else ""}), and mmdet keeps only the annotations '
        'whose category name is one of the classes.\n'
        f'  classes of the config ({len(classes)}): {", ".join(map(str, classes))}\n'
        f'  categories of the file ({len(names)}): {listed}\n'
        f'Name the file\'s classes in the dataset\'s metainfo ({option}; the heads\' num_classes '
        f'then is {len(names)}), or correct the category names in the file.')


def check_seg_labels(img_dir, seg_dir, img_suffix, seg_map_suffix, what):
    """Every image below ``img_dir`` needs its label file below ``seg_dir`` (mmseg pairs them
    by name: ``a/b.jpg`` -> ``a/b.png``). Raises :class:`BadDataError` listing those without."""
    missing, total = [], 0
    for base, _, files in os.walk(img_dir, followlinks=True):
        for name in sorted(files):
            if not name.endswith(img_suffix):
                continue
            total += 1
            rel = osp.relpath(osp.join(base, name), img_dir)
            label = osp.join(seg_dir, rel[:-len(img_suffix)] + seg_map_suffix)
            if not osp.isfile(label):
                missing.append((osp.join(base, name), label))
    if missing:
        lines = [f'  {img}: no label file {label}' for img, label in missing[:_SHOWN]]
        if len(missing) > _SHOWN:
            lines.append(f'  ... and {len(missing) - _SHOWN} more')
        raise BadDataError(
            f'{what}: {len(missing)} of {total} images have no label file:\n' + '\n'.join(lines)
            + f'\nPut the label files there (same name, suffix {seg_map_suffix!r}), or remove '
            'these images.')
