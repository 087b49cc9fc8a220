# Cascade Mask R-CNN + FPN, ResNet-50 backbone, COCO 2017, 3x schedule (36 epochs) with
# multi-scale training and random crops, 8 GPUs x 2 images: the ResNet-50 row of the Swin and
# ConvNeXt papers' Cascade Mask R-CNN tables, under the same recipe.
# Source: the Swin paper, Table 2(b) and Appendix A3.2 (its ResNet baselines are trained with
# the Swin recipe, AdamW included): the data pipeline, 4conv1fc GIoU box heads and schedule of
# convnext_cascade_maskrcnn_3x.py with mmdet's ResNet-50 (pytorch style, frozen stem and first
# stage, BatchNorm in eval mode, torchvision ImageNet-1k V1 weights) and AdamW lr 1e-4, weight
# decay 0.05, no layer decay.
# Expected on COCO val2017: 46.3 box AP / 40.1 mask AP (Swin paper, Tables 2(b) and 9; the
# ConvNeXt paper, Table 3, copies it), 82M parameters, 739 GFLOPs at 1280x800.
_base_ = './convnext_cascade_maskrcnn_3x.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbackbones.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50.IMAGENET1K_V1')),
    neck=dict(in_channels=[256, 512, 1024, 2048]))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05))
