# Cascade R-CNN + FPN, ResNeSt-101 backbone, COCO 2017, SyncBN, multi-scale-range 1x, 8 GPUs x 2.
# Source: mmdet configs/resnest/cascade-rcnn_s101_fpn_syncbn-backbone+head_ms-range-1x_coco.py
# (ResNeSt paper, arXiv 2004.08955); recipe as resnest50_cascade_rcnn.py, backbone
# ResNeSt-101 (128-channel deep stem) with timm's resnest101e.in1k weights (trained at 256 px).
# Expected: 46.8 box AP on COCO val2017 (mmdet model zoo); ResNeSt paper (Detectron2): 47.50.
# Like-for-like ResNet baseline: resnet101_cascade_rcnn.py.
_base_ = ['./resnest50_cascade_rcnn.py', './_base_/backbones/resnest101.py']

model = dict(backbone=_base_._resnest101_backbone)
