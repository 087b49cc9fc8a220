# UperNet, Swin-T backbone, ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmseg configs/swin/
# swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py
# (AdamW lr 6e-5, weight decay 0.01 with none on norms and position tables, drop path 0.3,
# 1500 iterations of linear warm-up then linear (poly, power 1) decay).
# Expected on ADE20K val: 44.41 mIoU single-scale, 45.79 multi-scale + flip (mmseg model zoo).
# The Swin authors' Swin-Transformer-Semantic-Segmentation README reports 44.51 / 45.81;
# the Swin paper's 46.1 (Table 3) is a multi-scale test.
_base_ = [
    '_base_/models/upernet.py',
    '_base_/datasets/ade20k.py',
    '_base_/schedules/seg_160k.py',
    '_base_/seg_runtime.py',
]
crop_size = (512, 512)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='mmbackbones.SwinTransformer',
        arch='tiny',
        window_size=7,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        use_abs_pos_embed=False,
        init_cfg=dict(type='Pretrained',
                      checkpoint='timm://swin_tiny_patch4_window7_224.ms_in1k')),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]

train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
