# RetinaNet + FPN, ResNet-50 backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/retinanet/retinanet_r50_fpn_1x_coco.py
# (Lin et al. 2017; torchvision ImageNet-1k V1 weights, BN frozen in eval mode, stem and first
# stage frozen, single-scale 1333x800 training, SGD lr 0.01).
# Expected: 36.5 box AP on COCO val2017 (mmdet model zoo); PVT paper's R-50 (caffe style): 36.3.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings; our ResNet and the weights below
        type='mmbackbones.ResNet',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50.IMAGENET1K_V1')))
