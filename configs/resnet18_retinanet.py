# RetinaNet + FPN, ResNet-18 backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/retinanet/retinanet_r18_fpn_1x_coco.py:
# the recipe of resnet50_retinanet.py with ResNet-18 (BasicBlock, torchvision ImageNet-1k V1
# weights).
# Expected: 31.7 box AP on COCO val2017 (mmdet model zoo); PVT paper's R-18 RetinaNet: 31.8.
_base_ = 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings; our ResNet and the weights below
        type='mmbackbones.ResNet',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18.IMAGENET1K_V1')))
