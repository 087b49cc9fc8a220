# Mask R-CNN + simple feature pyramid, ViTDet-B backbone (MAE ViT-B/16), COCO 2017, LSJ 1024, 100 epochs, 64 images per batch.
# Source: Detectron2's ViTDet model zoo, mask_rcnn_vitdet_b_100ep (the ViTDet paper's Mask R-CNN
# ViT-B run: Li et al. 2022, arXiv 2203.16527). Recipe: MAE-pretrained
# ViT-B with 14x14 windows and global blocks 2, 5, 8, 11, relative position bias, drop path 0.1;
# the simple feature pyramid (strides 4-64, 256 channels, LayerNorm); RPN with 2 convs, 4 conv +
# 1 fc box head and mask head with LayerNorm; large-scale jitter 0.1-2.0 at 1024x1024; AdamW
# (lr 1e-4, weight decay 0.1, layer-wise decay 0.7), warm-up 250 iterations, lr x0.1 at epochs
# 88 and 96. It starts from mmdet configs/strong_baselines/mask-rcnn_r50_fpn_rpn-2conv_4conv1fc_
# syncbn-all_lsj-100e_coco.py (the same detector, data pipeline and epochs with SyncBN and
# SGD), replacing backbone, neck, head norms, optimizer, warm-up and test resolution, as mmdet's
# projects/ViTDet config does. Differences from Detectron2's run: test images are resized to a
# longest side of 1024 and padded to a multiple of 32, not to a 1024 square; no fp16.
# Expected on COCO val2017: 51.6 box AP / 45.9 mask AP (Detectron2 ViTDet model zoo).
_base_ = 'mmdet::strong_baselines/mask-rcnn_r50_fpn_rpn-2conv_4conv1fc_syncbn-all_lsj-100e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# ViTDet's LayerNorm over channels in the neck and the heads (mmdet's projects: LN2d).
norm_cfg = dict(type='mmbackbones.LN2d', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbackbones.ViTDet',
        arch='base',
        img_size=1024,
        drop_path_rate=0.1,
        window_size=14,
        use_rel_pos=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_base.pth')),
    neck=dict(
        _delete_=True,
        type='mmbackbones.SimpleFPN',
        backbone_channel=768,
        in_channels=[192, 384, 768, 768],
        out_channels=256,
        num_outs=5,
        norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(1024, 1024), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.0001, betas=(0.9, 0.999),
                   weight_decay=0.1),
    constructor='mmbackbones.LayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=12))
# 25 epochs of the 4x repeated set (100 epochs); lr x0.1 at 88 and 96
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', begin=0, end=25, by_epoch=True, milestones=[22, 24], gamma=0.1)
]

# From scratch on the CPU: AdamW at 5x the real learning rate, batch 2, 2 epochs, 32 RoIs.
toy = dict(max_epochs=2, batch_size=2, lr=5e-4, warmup_iters=50, roi_samples=32)
