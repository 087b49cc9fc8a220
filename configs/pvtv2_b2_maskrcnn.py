# Mask R-CNN + FPN, PVTv2-b2 backbone, COCO 2017, 1x schedule (12 epochs), 8 GPUs x 2 images.
# Source: PVTv2 paper (Wang et al. 2022, arXiv 2106.13797) Table 3, whose detection code is
# mmdet's Mask R-CNN 1x with the backbone swapped and AdamW (lr 1e-4, weight decay 1e-4), as
# mmdet's configs/pvt RetinaNet configs; mmdet ships no PVT Mask R-CNN config, so this one starts
# from mmdet configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py and replaces the backbone and the
# optimizer.
# Expected on COCO val2017: 45.3 box AP / 41.2 mask AP (PVTv2 paper Table 3).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# mmdet's PVTv2-b2 dict (configs/pvt/retinanet_pvtv2-b2_fpn_1x_coco.py) with our class and
# timm's copy of the official weights; embed_norm_eps: the eps those weights were trained with
# in the patch-embedding and key/value-reduction norms (mmdet's PVTv2 uses 1e-6 there).
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbackbones.PyramidVisionTransformerV2',
        embed_dims=64,
        num_layers=[3, 4, 6, 3],
        embed_norm_eps=1e-5,
        init_cfg=dict(type='Pretrained', checkpoint='timm://pvt_v2_b2.in1k')),
    neck=dict(in_channels=[64, 128, 320, 512]))
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.0001, weight_decay=0.0001))

# From scratch on the CPU: AdamW at 5x the real learning rate, batch 2, 2 epochs, 32 RoIs.
toy = dict(max_epochs=2, batch_size=2, lr=5e-4, warmup_iters=50, roi_samples=32)
