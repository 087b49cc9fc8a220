"""Generate the project's synthetic data sets under ``data/``.

* ``data/toy_coco``: COCO instance format (``annotations/instances_{train,val}.json``,
  ``train/`` and ``val/`` images). Coloured shapes of several classes, each class with its own
  shape and colour, on textured backgrounds, with scale variation, partial occlusion and
  polygon masks of the visible parts.
* ``data/toy_ade``: ADE20K layout (``images/{training,validation}``,
  ``annotations/{training,validation}``), label maps as PNG with 0 meaning "ignore" and
  1..N the classes, which are the first N of ADE20K's own classes so ``ADE20KDataset`` reads
  them unchanged.

Output is deterministic for a seed. A stamp file in each set holds a hash of this file's
source and of the arguments; a set is regenerated only when it is missing or the hash differs.

    python tools/make_toy_data.py                 # both sets, default sizes
    python tools/make_toy_data.py --only coco --force
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import sys

import cv2
import numpy as np

STAMP_NAME = '.toy_stamp'

# name, BGR colour, shape
COCO_CLASSES = (
    ('red_circle', (40, 40, 220), 'circle'),
    ('green_square', (60, 190, 40), 'square'),
    ('blue_triangle', (220, 90, 30), 'triangle'),
    ('yellow_star', (30, 215, 235), 'star'),
    ('magenta_cross', (200, 40, 200), 'cross'),
)

# The first classes of ADE20K, in ADE20K order (label value = index + 1).
ADE_CLASSES = ('wall', 'building', 'sky', 'floor', 'tree')


# --------------------------------------------------------------------------- drawing helpers
def textured_background(rng, height, width, dark=False):
    """Low-contrast grey-ish texture: noise blobs plus stripes or a checkerboard."""
    base = rng.uniform(60, 110) if dark else rng.uniform(110, 170)
    tint = rng.uniform(-15, 15, size=3)
    noise = rng.normal(0, 1, size=(height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC) * 12
    img = np.full((height, width, 3), base, np.float32) + tint + noise
    yy, xx = np.mgrid[0:height, 0:width]
    pattern = rng.integers(3)
    period = rng.uniform(8, 24)
    angle = rng.uniform(0, np.pi)
    if pattern == 0:  # stripes
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
        img += (wave * rng.uniform(6, 14))[..., None]
    elif pattern == 1:  # checkerboard
        cell = int(period)
        checker = ((xx // cell + yy // cell) % 2) * 2 - 1
        img += (checker * rng.uniform(5, 12))[..., None]
    img += rng.normal(0, 4, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def shape_polygon(shape, cx, cy, size, angle):
    """Outline of a filled shape as an (N, 2) int32 polygon; None for circles."""
    r = size / 2
    if shape == 'square':
        pts = [(-r, -r), (r, -r), (r, r), (-r, r)]
    elif shape == 'triangle':
        pts = [(r * np.cos(a), r * np.sin(a)) for a in np.radians([-90, 30, 150])]
    elif shape == 'star':
        pts = []
        for k in range(10):
            a = np.radians(-90 + 36 * k)
            rr = r if k % 2 == 0 else r * 0.45
            pts.append((rr * np.cos(a), rr * np.sin(a)))
    elif shape == 'cross':
        t = r * 0.35
        pts = [(-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t), (t, r), (-t, r), (-t, t),
               (-r, t), (-r, -t), (-t, -t)]
    else:
        return None
    c, s = np.cos(angle), np.sin(angle)
    pts = np.array([(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts])
    return np.round(pts).astype(np.int32)


def draw_shape_mask(shape, cx, cy, size, angle, height, width):
    mask = np.zeros((height, width), np.uint8)
    poly = shape_polygon(shape, cx, cy, size, angle)
    if poly is None:
        cv2.circle(mask, (int(round(cx)), int(round(cy))), int(round(size / 2)), 1, -1)
    else:
        cv2.fillPoly(mask, [poly], 1)
    return mask.astype(bool)


def shade_colour(rng, colour, mask):
    """Per-object colour jitter plus a soft vertical gradient inside the mask."""
    jitter = rng.integers(-25, 26, size=3)
    col = np.clip(np.array(colour) + jitter, 0, 255).astype(np.float32)
    h, w = mask.shape
    grad = np.linspace(-1, 1, h, dtype=np.float32)[:, None, None] * rng.uniform(0, 20)
    return np.broadcast_to(col[None, None, :] + grad, (h, w, 3))


def mask_to_polygons(mask):
    """COCO polygons (flat x, y lists) of a binary mask's outer contours."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        if len(contour) < 3 or cv2.contourArea(contour) < 4:
            continue
        polygons.append([float(v) for v in contour.reshape(-1)])
    return polygons


# --------------------------------------------------------------------------- toy COCO
def make_coco_image(rng, size):
    height = width = size
    img = textured_background(rng, height, width)
    objects = []
    num_objects = int(rng.integers(1, 5))
    attempts = 0
    while len(objects) < num_objects and attempts < 40:
        attempts += 1
        label = int(rng.integers(len(COCO_CLASSES)))
        _, colour, shape = COCO_CLASSES[label]
        obj_size = float(np.exp(rng.uniform(np.log(0.14 * size), np.log(0.5 * size))))
        cx = rng.uniform(obj_size * 0.3, width - obj_size * 0.3)
        cy = rng.uniform(obj_size * 0.3, height - obj_size * 0.3)
        angle = rng.uniform(0, 2 * np.pi)
        mask = draw_shape_mask(shape, cx, cy, obj_size, angle, height, width)
        if mask.sum() < 40:
            continue
        # Occlusion: the new object is on top. Accept it only if every earlier object keeps
        # at least half of its visible area, so each annotation stays recognisable.
        ok = True
        for obj in objects:
            before = obj['visible'].sum()
            after = (obj['visible'] & ~mask).sum()
            if after < 0.5 * before:
                ok = False
                break
        if not ok:
            continue
        for obj in objects:
            obj['visible'] &= ~mask
        img[mask] = np.clip(shade_colour(rng, colour, mask), 0, 255).astype(np.uint8)[mask]
        objects.append(dict(label=label, visible=mask.copy()))
    # Slight blur: soft edges as in real photos.
    img = cv2.GaussianBlur(img, (3, 3), 0)
    annotations = []
    for obj in objects:
        visible = obj['visible']
        area = int(visible.sum())
        polygons = mask_to_polygons(visible)
        if area < 20 or not polygons:
            continue
        ys, xs = np.nonzero(visible)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        annotations.append(dict(category_id=obj['label'] + 1, segmentation=polygons, area=area,
                                bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                                iscrowd=0))
    return img, annotations


def make_toy_coco(out_dir, seed, num_train, num_val, size):
    os.makedirs(osp.join(out_dir, 'annotations'))
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, (name, _, _) in enumerate(COCO_CLASSES)]
    ann_id = 1
    for split, count, split_seed in (('train', num_train, seed), ('val', num_val, seed + 1)):
        rng = np.random.default_rng(split_seed)
        os.makedirs(osp.join(out_dir, split))
        images, annotations = [], []
        for index in range(count):
            img, anns = make_coco_image(rng, size)
            file_name = f'{split}_{index:05d}.png'
            cv2.imwrite(osp.join(out_dir, split, file_name), img)
            image_id = index + 1
            images.append(dict(id=image_id, file_name=file_name, height=size, width=size))
            for ann in anns:
                ann.update(id=ann_id, image_id=image_id)
                annotations.append(ann)
                ann_id += 1
        with open(osp.join(out_dir, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
        print(f'[toy data] toy_coco/{split}: {count} images, {len(annotations)} objects')


# --------------------------------------------------------------------------- toy ADE20K
def make_ade_image(rng, size):
    """A little outdoor scene: sky, buildings, trees, a wall panel and a floor."""
    height = width = size
    label = np.zeros((height, width), np.uint8)
    img = np.zeros((height, width, 3), np.uint8)

    def paint(mask, cls_name, colour, texture):
        value = ADE_CLASSES.index(cls_name) + 1
        label[mask] = value
        img[mask] = texture[mask] if texture is not None else colour

    horizon = int(rng.uniform(0.45, 0.7) * height)
    yy, xx = np.mgrid[0:height, 0:width]
    sky = np.zeros((height, width, 3), np.float32)
    sky[..., 0] = 230 - yy * 0.3
    sky[..., 1] = 170 - yy * 0.2 + rng.uniform(-10, 10)
    sky[..., 2] = 110 + rng.uniform(-10, 10)
    paint(yy < horizon, 'sky', None, np.clip(sky, 0, 255).astype(np.uint8))
    floor_tex = textured_background(rng, height, width, dark=True)
    floor_tex = np.clip(floor_tex.astype(np.int16) + np.array([-20, 10, 30]), 0, 255).astype(
        np.uint8)
    paint(yy >= horizon, 'floor', None, floor_tex)
    for _ in range(int(rng.integers(1, 4))):  # buildings standing on the horizon
        bw = int(rng.uniform(0.12, 0.3) * width)
        bh = int(rng.uniform(0.2, 0.5) * height)
        x0 = int(rng.uniform(0, width - bw))
        mask = (xx >= x0) & (xx < x0 + bw) & (yy >= horizon - bh) & (yy < horizon)
        grey = rng.uniform(90, 150)
        tex = np.full((height, width, 3), grey, np.float32)
        windows = ((xx - x0) % 8 < 3) & ((yy - (horizon - bh)) % 10 < 4)
        tex[windows] = (200, 220, 240)
        paint(mask, 'building', None, tex.astype(np.uint8))
    for _ in range(int(rng.integers(1, 4))):  # trees: round green crowns
        r = int(rng.uniform(0.06, 0.14) * width)
        cx = int(rng.uniform(r, width - r))
        cy = int(horizon - rng.uniform(0.5, 1.5) * r)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        tex = np.zeros((height, width, 3), np.float32)
        tex[...] = (30, rng.uniform(110, 170), 40)
        tex += rng.normal(0, 12, size=tex.shape)
        paint(mask, 'tree', None, np.clip(tex, 0, 255).astype(np.uint8))
    if rng.random() < 0.6:  # a wall panel in the foreground
        ww = int(rng.uniform(0.2, 0.4) * width)
        wh = int(rng.uniform(0.15, 0.3) * height)
        x0 = int(rng.uniform(0, width - ww))
        y1 = int(rng.uniform(horizon + 2, height))
        mask = (xx >= x0) & (xx < x0 + ww) & (yy >= y1 - wh) & (yy < y1)
        tex = np.full((height, width, 3), (150, 190, 215), np.float32)
        tex[((yy % 6) == 0)] -= 40  # brick rows
        paint(mask, 'wall', None, np.clip(tex, 0, 255).astype(np.uint8))
    # Unlabelled pixels (value 0) along region borders, as in ADE20K.
    edges = cv2.morphologyEx(label, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    label[edges & (rng.random((height, width)) < 0.5)] = 0
    img = np.clip(img.astype(np.float32) + rng.normal(0, 3, size=img.shape), 0, 255).astype(
        np.uint8)
    return img, label


def make_toy_ade(out_dir, seed, num_train, num_val, size):
    for split, count, split_seed in (('training', num_train, seed + 10),
                                     ('validation', num_val, seed + 11)):
        rng = np.random.default_rng(split_seed)
        os.makedirs(osp.join(out_dir, 'images', split))
        os.makedirs(osp.join(out_dir, 'annotations', split))
        for index in range(count):
            img, label = make_ade_image(rng, size)
            stem = f'ADE_toy_{split}_{index:05d}'
            cv2.imwrite(osp.join(out_dir, 'images', split, stem + '.jpg'), img,
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(osp.join(out_dir, 'annotations', split, stem + '.png'), label)
        print(f'[toy data] toy_ade/{split}: {count} images, classes {ADE_CLASSES}')


# --------------------------------------------------------------------------- stamps
def stamp_of(kind, args):
    with open(osp.abspath(__file__), 'rb') as f:
        source = f.read()
    params = {'kind': kind, 'seed': args.seed}
    if kind == 'coco':
        params.update(train=args.coco_train, val=args.coco_val, size=args.coco_size)
    else:
        params.update(train=args.ade_train, val=args.ade_val, size=args.ade_size)
    digest = hashlib.sha256(source + json.dumps(params, sort_keys=True).encode()).hexdigest()
    return digest


def up_to_date(out_dir, stamp):
    stamp_file = osp.join(out_dir, STAMP_NAME)
    if not osp.isfile(stamp_file):
        return False
    with open(stamp_file) as f:
        return f.read().strip() == stamp


def generate(kind, out_dir, stamp, build, force):
    if not force and up_to_date(out_dir, stamp):
        print(f'[toy data] {out_dir} is up to date')
        return False
    tmp_dir = out_dir + '.tmp'
    shutil.rmtree(tmp_dir, ignore_errors=True)
    build(tmp_dir)
    with open(osp.join(tmp_dir, STAMP_NAME), 'w') as f:
        f.write(stamp + '\n')
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp_dir, out_dir)
    print(f'[toy data] wrote {out_dir}')
    return True


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data', help='parent folder of toy_coco/ and toy_ade/')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--only', choices=['coco', 'ade'], help='generate one set only')
    parser.add_argument('--coco-train', type=int, default=450)
    parser.add_argument('--coco-val', type=int, default=100)
    parser.add_argument('--coco-size', type=int, default=128, help='image side in pixels')
    parser.add_argument('--ade-train', type=int, default=200)
    parser.add_argument('--ade-val', type=int, default=50)
    parser.add_argument('--ade-size', type=int, default=128, help='image side in pixels')
    parser.add_argument('--force', action='store_true', help='regenerate even if up to date')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.only in (None, 'coco'):
        generate('coco', osp.join(args.out, 'toy_coco'), stamp_of('coco', args),
                 lambda d: make_toy_coco(d, args.seed, args.coco_train, args.coco_val,
                                         args.coco_size), args.force)
    if args.only in (None, 'ade'):
        generate('ade', osp.join(args.out, 'toy_ade'), stamp_of('ade', args),
                 lambda d: make_toy_ade(d, args.seed, args.ade_train, args.ade_val,
                                        args.ade_size), args.force)
    return 0


if __name__ == '__main__':
    sys.exit(main())
