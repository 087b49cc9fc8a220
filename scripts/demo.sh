#!/usr/bin/env bash
# make demo: synthetic data -> train Mask R-CNN + Swin-T on the CPU -> COCO box/mask AP ->
# PNG visualisations of the predictions. Everything goes to work_dirs/demo (replaced each run).
#   DEMO_WORK_DIR  output folder (default work_dirs/demo)
#   DEMO_ARGS      extra tools/train.py arguments, e.g. "--cfg-options train_cfg.max_epochs=4"
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CONFIG=configs/swin_maskrcnn.py  # its toy run (--toy): mmbackbones.toy.derive_toy_config
WORK_DIR=${DEMO_WORK_DIR:-work_dirs/demo}
START=$(date +%s)

say() { echo; echo "[demo] $*"; }
elapsed() { local s=$(( $(date +%s) - START )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# The previous demo's output is cleared first, while this script holds the work dir's lock: a
# demo training into it right now holds that lock, so nothing of a running demo is ever removed.
if [ -d "$WORK_DIR" ] && [ -n "$(ls -A "$WORK_DIR")" ] && [ ! -f "$WORK_DIR/.demo_output" ]; then
  echo "[demo] $WORK_DIR exists and was not written by the demo; set DEMO_WORK_DIR elsewhere" >&2
  exit 1
fi
$PY - "$WORK_DIR" <<'PYEOF' || exit 1
import os, shutil, sys
from mmbackbones.cli.workdir import LOCK_NAME, WorkDirBusyError, lock_work_dir, unlock_work_dir
work_dir = sys.argv[1]
try:
    lock_work_dir(work_dir)  # creates the dir
except WorkDirBusyError as err:
    sys.exit(f'[demo] {err}')
for entry in os.scandir(work_dir):
    if entry.name != LOCK_NAME:  # the lock file stays: it is what is locked
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.remove(entry.path)
open(os.path.join(work_dir, '.demo_output'), 'w').close()
unlock_work_dir(work_dir)
PYEOF

say "1/4 synthetic COCO-style data (data/toy_coco; regenerated only if missing or outdated)"
$PY tools/make_toy_data.py --only coco

say "2/4 training the toy run of $CONFIG on the CPU ($(nproc) cores); logs and checkpoints in $WORK_DIR"
# shellcheck disable=SC2086
$PY tools/train.py "$CONFIG" --toy --work-dir "$WORK_DIR" --no-validate ${DEMO_ARGS:-}
TRAIN_DONE=$(elapsed)
CHECKPOINT=$(cat "$WORK_DIR/last_checkpoint")

say "3/4 evaluating $CHECKPOINT on the synthetic val split (COCO box and mask AP)"
$PY tools/test.py "$CONFIG" "$CHECKPOINT" --toy --work-dir "$WORK_DIR/test" \
  --show-dir "$WORK_DIR/visualisations" --cfg-options default_hooks.visualization.score_thr=0.5

say "4/4 summary"
$PY - "$WORK_DIR" "$TRAIN_DONE" "$(elapsed)" <<'PYEOF'
import glob, json, os, sys
import cv2
import numpy as np
work_dir, train_time, total_time = sys.argv[1:4]
metrics = json.load(open(os.path.join(work_dir, 'test', 'test_metrics.json')))
get = lambda key: metrics.get(key, float('nan'))
pngs = sorted(glob.glob(os.path.join(work_dir, 'visualisations', '*.png')))
# Contact sheet of the first 24 drawings, twice the size, for a quick look.
tiles = [cv2.imread(p) for p in pngs[:24]]
tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 4)
rows = [np.hstack(tiles[i:i + 4]) for i in range(0, len(tiles), 4)]
sheet = os.path.join(work_dir, 'visualisations.png')
cv2.imwrite(sheet, cv2.resize(np.vstack(rows), None, fx=2, fy=2,
                              interpolation=cv2.INTER_NEAREST))
print(f'  box AP50  {get("coco/bbox_mAP_50"):.3f}   box AP  {get("coco/bbox_mAP"):.3f}')
print(f'  mask AP50 {get("coco/segm_mAP_50"):.3f}   mask AP {get("coco/segm_mAP"):.3f}')
print(f'  time: training done after {train_time}, everything after {total_time}')
logs = sorted(glob.glob(os.path.join(work_dir, '*', '*.log')))
print(f'  training log:     {logs[0] if logs else work_dir}')
print(f'  checkpoints:      {work_dir}/epoch_*.pth')
print(f'  metrics:          {work_dir}/test/test_metrics.json')
print(f'  visualisations:   {work_dir}/visualisations/ ({len(pngs)} PNGs; '
      'ground truth left, prediction right, scores >= 0.5)')
print(f'  contact sheet:    {sheet}')
bar = get('coco/bbox_mAP_50')
print('  ' + ('PASS' if bar >= 0.5 else 'BELOW BAR') + f': box AP50 {bar:.3f} (bar 0.5)')
PYEOF
