# Faster R-CNN + FPN, ResNet-50 baseline of resnest50_fasterrcnn.py: same SyncBN ms-range 1x.
# Source: configs/resnest50_fasterrcnn.py (mmdet configs/resnest, ResNeSt paper) with
# only the backbone swapped for mmdet's standard ResNet-50 (pytorch style, torchvision ImageNet-1k
# V1 weights): SyncBN in backbone and 4conv1fc head, short side 640..800, 1x, as the paper's
# baselines, which were retrained under the ResNeSt recipe.
# Expected: no published number for this exact run; nearest: ResNeSt paper's R-50, 39.25 box AP
# (the paper's ResNet baseline, retrained in Detectron2 with this recipe, MSRA-style R-50). mmdet
# has no R-50 under these settings. For scale, mmdet's plain Faster R-CNN R-50 1x (frozen BN,
# single-scale, 2fc head): 37.4 box AP.
_base_ = ['./resnest50_fasterrcnn.py', './_base_/backbones/resnet50.py']

model = dict(backbone=dict(_delete_=True, **_base_._resnet50_syncbn_backbone))
