# Mask R-CNN + FPN, Swin-T backbone, COCO 2017, 1x schedule (12 epochs), 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py
# (AdamW lr 1e-4, weight decay 0.05 with none on norms and position tables, drop path 0.2,
# single-scale 1333x800 training, ImageNet-1k pretrained Swin-T).
# Expected on COCO val2017: 42.7 box AP / 39.3 mask AP (mmdet model zoo). The Swin authors'
# 1x run, trained multi-scale, reports 43.7 / 39.8 (Swin-Transformer-Object-Detection README).
_base_ = [
    '_base_/models/mask_rcnn_fpn.py',
    '_base_/datasets/coco_instance.py',
    '_base_/schedules/det_1x.py',
    '_base_/det_runtime.py',
]

model = dict(
    backbone=dict(
        type='mmbackbones.SwinTransformer',
        arch='tiny',
        window_size=7,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        use_abs_pos_embed=False,
        init_cfg=dict(type='Pretrained',
                      checkpoint='timm://swin_tiny_patch4_window7_224.ms_in1k')),
    neck=dict(in_channels=[96, 192, 384, 768]))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }),
    optimizer=dict(_delete_=True, type='AdamW', lr=0.0001, betas=(0.9, 0.999),
                   weight_decay=0.05))
