# Semantic FPN, PVT-Small backbone, ADE20K, 512x512 crops, 40k iterations, batch 16.
# Source: PVT paper (Wang et al. 2021, arXiv 2102.12122), semantic segmentation: Semantic FPN,
# AdamW lr 1e-4 (weight decay 1e-4), poly decay (power 0.9) over 40k iterations; mmseg ships
# no PVT config, so this one starts from mmseg configs/sem_fpn/
# fpn_r50_4xb4-160k_ade20k-512x512.py (the same Semantic FPN, 4 GPUs x 4 images) and replaces
# the backbone, the optimizer and the schedule.
# Expected on ADE20K val: 39.8 mIoU single-scale (PVT paper; PVTv2 paper Table 5).
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# mmdet's PVT-Small dict (configs/pvt/retinanet_pvt-s_fpn_1x_coco.py) with our class and the
# official ImageNet-1k weights; the base's ResNet weights (model.pretrained) are dropped.
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmbackbones.PyramidVisionTransformer',
        num_layers=[3, 4, 6, 3],
        init_cfg=dict(type='Pretrained', checkpoint='https://github.com/whai362/PVT/releases/'
                      'download/v2/pvt_small.pth')),
    neck=dict(in_channels=[64, 128, 320, 512]))
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.0001, weight_decay=0.0001))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=40000, by_epoch=False)
]
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))

# From scratch on the CPU: 300 iterations of 2 images at 5x the real learning rate.
toy = dict(max_iters=300, batch_size=2, lr=5e-4, warmup_iters=30)
