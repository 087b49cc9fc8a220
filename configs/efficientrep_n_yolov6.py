# YOLOv6-n, EfficientRep (deepen 0.33, widen 0.25) backbone of RepVGG blocks, COCO 2017 detection.
# Needs mmyolo (the optional `yolo` extra: pip install mmbackbones[yolo]).
# Source: mmyolo configs/yolov6/yolov6_n_syncbn_fast_8xb32-400e_coco.py (Li et al. 2022, YOLOv6;
# 640x640, 400 epochs, 8 GPUs x 32 images, from scratch).
# Expected: 36.2 box AP on COCO val2017 (mmyolo model zoo).
_base_ = 'mmyolo::yolov6/yolov6_n_syncbn_fast_8xb32-400e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(backbone=dict(type='mmbackbones.YOLOv6EfficientRep'))  # the base's settings
