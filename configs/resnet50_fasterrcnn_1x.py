# Faster R-CNN + FPN, ResNet-50 backbone, COCO 2017, 1x: the R-50 row of mmdet's RegNet table.
# Source: the OpenMMLab reproduction, mmdet configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py
# (torchvision ImageNet-1k V1 weights, BN frozen in eval mode, stem and first stage frozen,
# single-scale 1333x800 training, SGD lr 0.02), the baseline of regnetx_032_fasterrcnn.py.
# Expected: 37.4 box AP on COCO val2017 (mmdet model zoo).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings; our ResNet and the weights below
        type='mmbackbones.ResNet',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50.IMAGENET1K_V1')))
