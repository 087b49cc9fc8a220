# Cascade Mask R-CNN + FPN, ResNeSt-101 backbone, COCO 2017, SyncBN, multi-scale 1x, 8 GPUs x 2.
# Source: mmdet configs/resnest/cascade-mask-rcnn_s101_fpn_syncbn-backbone+head_ms-1x_coco.py
# (ResNeSt paper, arXiv 2004.08955); recipe as resnest50_cascade_maskrcnn.py, backbone
# ResNeSt-101 (128-channel deep stem) with timm's resnest101e.in1k weights (trained at 256 px).
# Expected: 47.7 box AP / 41.4 mask AP on COCO val2017 (mmdet); ResNeSt paper: 48.30 / 41.56.
# Like-for-like ResNet baseline: resnet101_cascade_maskrcnn.py.
_base_ = ['./resnest50_cascade_maskrcnn.py', './_base_/backbones/resnest101.py']

model = dict(backbone=_base_._resnest101_backbone)
