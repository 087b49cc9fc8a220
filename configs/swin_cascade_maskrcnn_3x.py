# Cascade Mask R-CNN + FPN, Swin-T backbone, COCO 2017, 3x schedule (36 epochs) with
# multi-scale training and random crops, 8 GPUs x 2 images: the Swin side of the ConvNeXt
# paper's Table 3.
# Source: the Swin authors' recipe (SwinTransformer/Swin-Transformer-Object-Detection
# cascade_mask_rcnn_swin_tiny_patch4_window7_mstrain_480-800_giou_4conv1f_adamw_3x_coco.py):
# the data pipeline, 4conv1fc GIoU box heads and schedule of convnext_cascade_maskrcnn_3x.py
# (mmdet has no Swin Cascade Mask R-CNN config), with Swin-T (drop path 0.2) and Swin's
# optimiser: AdamW lr 1e-4, weight decay 0.05, none on norms and position tables, no layer
# decay.
# Expected on COCO val2017: 50.4 box AP / 43.7 mask AP (the Swin repository's released
# model; the ConvNeXt paper, Table 3, quotes it; the Swin paper, Table 2(b): 50.5 / 43.7),
# 86M parameters, 745 GFLOPs at 1280x800.
_base_ = './convnext_cascade_maskrcnn_3x.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbackbones.SwinTransformer',
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.2,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        with_cp=False,
        init_cfg=dict(type='Pretrained',
                      checkpoint='timm://swin_tiny_patch4_window7_224.ms_in1k')))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }),
    optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05))
