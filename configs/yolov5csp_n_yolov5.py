# YOLOv5-n v6.1, YOLOv5 CSPDarknet (deepen 0.33, widen 0.25) backbone, COCO 2017 detection,
# 640x640, 300 epochs, 8 GPUs x 16 images, trained from scratch. Needs mmyolo (the optional
# `yolo` extra: pip install mmbackbones[yolo]).
# Source: mmyolo configs/yolov5/yolov5_n-v61_syncbn_fast_8xb16-300e_coco.py (ultralytics
# YOLOv5 v6.1): the YOLOv5-s recipe with a quarter of the width.
# Expected: 28.0 box AP on COCO val2017 (mmyolo model zoo).
_base_ = 'mmyolo::yolov5/yolov5_n-v61_syncbn_fast_8xb16-300e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(backbone=dict(type='mmbackbones.YOLOv5CSPDarknet'))  # the base's settings
