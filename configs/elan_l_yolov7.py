# YOLOv7-L, ELAN backbone and ELAN-PAFPN neck, COCO 2017 detection. Needs mmyolo (the optional
# `yolo` extra: pip install mmbackbones[yolo]).
# Source: mmyolo configs/yolov7/yolov7_l_syncbn_fast_8x16b-300e_coco.py (Wang et al. 2022, YOLOv7;
# 640x640, 300 epochs, 8 GPUs x 16 images, from scratch).
# Expected: 50.9 box AP on COCO val2017 (mmyolo model zoo).
_base_ = 'mmyolo::yolov7/yolov7_l_syncbn_fast_8x16b-300e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# Backbone and neck are ours (mmbackbones.YOLOv7PAFPN: mmyolo's YOLOv7PAFPN, same weights),
# with the base's settings.
model = dict(backbone=dict(type='mmbackbones.YOLOv7Backbone'),
             neck=dict(type='mmbackbones.YOLOv7PAFPN'))
