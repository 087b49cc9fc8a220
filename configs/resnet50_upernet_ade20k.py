# UperNet, ResNet-50 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# ResNet-50 v1c (deep stem), SyncBN.
# Source: the OpenMMLab reproduction, mmseg configs/upernet/upernet_r50_4xb4-160k_ade20k-512x512.py
# (SGD lr 0.01, momentum 0.9, weight decay 5e-4, poly decay; Xiao et al. 2018).
# Expected: 42.05 mIoU single-scale, 42.78 multi-scale + flip on ADE20K val (mmseg model zoo).
# Differences from mmseg's config: ImageNet weights from timm (resnet50c.gluon_in1k, the same
# v1c architecture) instead of open-mmlab://resnet50_v1c.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    pretrained=None,  # the backbone's init_cfg names the weights
    backbone=dict(  # the base's settings; our ResNetV1c and the weights below
        type='mmbackbones.ResNetV1c',
        init_cfg=dict(type='Pretrained', checkpoint='timm://resnet50c.gluon_in1k')))
