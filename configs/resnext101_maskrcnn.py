# Mask R-CNN + FPN, ResNeXt-101 32x4d backbone, COCO 2017, 1x schedule, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/mask_rcnn/mask-rcnn_x101-32x4d_fpn_1x_coco.py
# (Xie et al. 2017; BN frozen in eval mode, stem and first stage frozen, single-scale 1333x800
# training, SGD lr 0.02).
# Expected: 41.9 box AP / 37.5 mask AP on COCO val2017 (mmdet model zoo; PVT paper: same).
# Differences from mmdet's config: ImageNet weights from timm (resnext101_32x4d.gluon_in1k,
# 80.3 top-1; the ResNeXt authors' model: 78.8) instead of open-mmlab://resnext101_32x4d.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_x101-32x4d_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings; our ResNeXt and the weights below
        type='mmbackbones.ResNeXt',
        init_cfg=dict(type='Pretrained', checkpoint='timm://resnext101_32x4d.gluon_in1k')))
