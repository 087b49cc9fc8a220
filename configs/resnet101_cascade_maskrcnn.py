# Cascade Mask R-CNN + FPN, ResNet-101 baseline of resnest101_cascade_maskrcnn.py: same recipe.
# Source: configs/resnet50_cascade_maskrcnn.py (the ResNeSt recipe of mmdet configs/resnest) with
# ResNet-101, torchvision ImageNet-1k V1 weights (mmdet's standard R-101).
# Expected: no published number for this exact run; nearest: ResNeSt paper's R-101, 44.79 / 38.52
# box / mask AP (the paper's ResNet baseline, retrained in Detectron2 with this recipe,
# MSRA-style R-101). mmdet has no R-101 under these settings; its plain Cascade Mask R-CNN R-101
# 20e (frozen BN, single-scale, 2fc heads) gets 43.4 / 37.8.
_base_ = './resnet50_cascade_maskrcnn.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101.IMAGENET1K_V1')))
