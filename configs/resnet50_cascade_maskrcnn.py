# Cascade Mask R-CNN + FPN, ResNet-50 baseline of resnest50_cascade_maskrcnn.py: same recipe.
# Source: configs/resnest50_cascade_maskrcnn.py (mmdet configs/resnest, ResNeSt paper)
# with only the backbone swapped for mmdet's standard ResNet-50 (pytorch style, torchvision
# ImageNet-1k V1 weights): SyncBN in backbone, 4conv1fc box heads and mask head, short side
# 640..800, 1x, as the paper's baselines, which were retrained under the ResNeSt recipe.
# Expected: no published number for this exact run; nearest: ResNeSt paper's R-50, 43.06 / 37.19
# box / mask AP (the paper's ResNet baseline, retrained in Detectron2 with this recipe, MSRA-style
# mmdet has no R-50 under these settings. For scale, mmdet's plain Cascade Mask R-CNN R-50
# 1x (frozen BN, single-scale, 2fc heads): 41.2 / 35.9.
_base_ = ['./resnest50_cascade_maskrcnn.py', './_base_/backbones/resnet50.py']

model = dict(backbone=dict(_delete_=True, **_base_._resnet50_syncbn_backbone))
