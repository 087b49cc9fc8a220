# Faster R-CNN + FPN, ResNet-101 baseline of resnest101_fasterrcnn.py: same SyncBN ms-range 1x.
# Source: configs/resnet50_fasterrcnn.py (the ResNeSt recipe of mmdet configs/resnest) with
# ResNet-101, torchvision ImageNet-1k V1 weights (mmdet's standard R-101).
# Expected: no published number for this exact run; nearest: ResNeSt paper's R-101, 41.37 box AP
# (the paper's ResNet baseline, retrained in Detectron2 with this recipe, MSRA-style R-101). mmdet
# has no R-101 under these settings.
_base_ = './resnet50_fasterrcnn.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101.IMAGENET1K_V1')))
