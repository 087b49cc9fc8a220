# RetinaNet + FPN, Swin-T backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: mmdet configs/swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py. As there, the backbone
# returns levels 1..3 (strides 8, 16, 32) and the FPN starts at its first input, because each
# Swin output carries its own LayerNorm. SGD lr 0.01 (momentum 0.9, weight decay 1e-4), as
# mmdet's RetinaNet configs.
# Expected: no published OpenMMLab or paper number for Swin-T RetinaNet 1x (unconfirmed).
# For scale: RetinaNet R-50 1x gets 36.5 box AP in mmdet, PVT-S 40.4 (PVT paper, Table 3).
_base_ = [
    '_base_/models/retinanet_fpn.py',
    '_base_/datasets/coco_detection.py',
    '_base_/schedules/det_1x.py',
    '_base_/det_runtime.py',
]

model = dict(
    backbone=dict(
        type='mmbackbones.SwinTransformer',
        arch='tiny',
        window_size=7,
        out_indices=(1, 2, 3),
        drop_path_rate=0.2,
        use_abs_pos_embed=False,
        init_cfg=dict(type='Pretrained',
                      checkpoint='timm://swin_tiny_patch4_window7_224.ms_in1k')),
    neck=dict(in_channels=[192, 384, 768], start_level=0, num_outs=5))

optim_wrapper = dict(optimizer=dict(lr=0.01))
