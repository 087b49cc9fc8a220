# RetinaNet + FPN, Swin-T backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: mmdet configs/swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py. As there, the backbone
# returns levels 1..3 (strides 8, 16, 32) and the FPN starts at its first input, because each
# Swin output carries its own LayerNorm. SGD lr 0.01 (momentum 0.9, weight decay 1e-4), as
# mmdet's RetinaNet configs.
# Expected: no published OpenMMLab or paper number for Swin-T RetinaNet 1x (unconfirmed).
# For scale: RetinaNet R-50 1x gets 36.5 box AP in mmdet, PVT-S 40.4 (PVT paper, Table 3).
_base_ = ['mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py', './_base_/backbones/swin.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# The base's backbone settings (OpenMMLab's argument names) are kept; only the implementation
# and the pretrained weights change.
model = dict(backbone=_base_._swin_tiny_backbone)

# From scratch on the CPU: AdamW as in swin_maskrcnn.py's run (SGD trains a transformer from
# scratch poorly), 4 epochs of batch 2.
toy = dict(
    max_epochs=4, batch_size=2, lr=5e-4, warmup_iters=50,
    overrides=dict(optim_wrapper=dict(
        optimizer=dict(_delete_=True, type='AdamW', lr=5e-4, betas=(0.9, 0.999),
                       weight_decay=0.05),
        paramwise_cfg=dict(custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)}))))
