# Mask R-CNN + FPN, ResNet-101 backbone, COCO 2017, 1x: the R-101 row of mmdet's RegNet table.
# Source: the OpenMMLab reproduction, mmdet configs/mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py (the
# recipe of resnet50_maskrcnn_1x.py with ResNet-101, torchvision ImageNet-1k V1 weights).
# Expected on COCO val2017: 40.0 box AP / 36.1 mask AP (mmdet model zoo).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings; our ResNet and the weights below
        type='mmbackbones.ResNet',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101.IMAGENET1K_V1')))
