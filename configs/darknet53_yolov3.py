# YOLOv3, Darknet-53 backbone, COCO 2017 detection, 608x608 multi-scale training, 273 epochs,
# 8 GPUs x 8 images.
# Source: mmdet configs/yolo/yolov3_d53_8xb8-ms-608-273e_coco.py (Redmon & Farhadi 2018): the
# Darknet-53 ImageNet weights of the original Darknet (open-mmlab://darknet53, mmdet's key
# layout, which our Darknet reads as it is), YOLOv3 neck and head, SGD lr 1e-3.
# Expected: 33.7 box AP on COCO val2017 (mmdet model zoo, 608x608).
_base_ = 'mmdet::yolo/yolov3_d53_8xb8-ms-608-273e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(backbone=dict(type='mmbackbones.Darknet'))  # the base's settings and weights
