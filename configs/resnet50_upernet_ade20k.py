# UperNet, ResNet-50 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# ResNet-50 v1c (deep stem), SyncBN.
# Source: the OpenMMLab reproduction, mmseg configs/upernet/upernet_r50_4xb4-160k_ade20k-512x512.py
# (SGD lr 0.01, momentum 0.9, weight decay 5e-4, poly decay; Xiao et al. 2018).
# Expected: 42.05 mIoU single-scale, 42.78 multi-scale + flip on ADE20K val (mmseg model zoo).
# Differences from mmseg's config: ImageNet weights from timm (resnet50c.gluon_in1k, the same
# v1c architecture) instead of open-mmlab://resnet50_v1c.
_base_ = [
    '_base_/models/upernet.py',
    '_base_/datasets/ade20k.py',
    '_base_/schedules/seg_160k.py',
    '_base_/seg_runtime.py',
]
crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)  # BN without a GPU (tools/ switch it)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='mmbackbones.ResNet',
        depth=50,
        stem_type='deep',  # v1c, mmseg's ResNetV1c
        stem_channels=64,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='timm://resnet50c.gluon_in1k')),
    decode_head=dict(in_channels=[256, 512, 1024, 2048], num_classes=150),
    auxiliary_head=dict(in_channels=1024, num_classes=150))
