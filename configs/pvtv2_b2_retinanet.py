# RetinaNet + FPN, PVTv2-b2 backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/pvt/retinanet_pvtv2-b2_fpn_1x_coco.py
# (PVTv2 paper, Wang et al. 2022, arXiv 2106.13797; AdamW lr 1e-4, weight decay 1e-4,
# single-scale 1333x800 training, ImageNet-1k pretrained PVTv2-b2, drop path 0.1).
# Expected on COCO val2017: 44.6 box AP (PVTv2 paper Table 3; the mmdet model zoo's run also
# gets 44.6).
_base_ = 'mmdet::pvt/retinanet_pvtv2-b2_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# The base's backbone settings (OpenMMLab's argument names) are kept; only the implementation
# and the pretrained weights change. The weights (timm's copy of the official ones) were trained
# with eps 1e-5 in the patch-embedding and key/value-reduction layer norms, which mmdet's
# PVTv2 sets to 1e-6 like its other norms: embed_norm_eps keeps the trained value.
model = dict(
    backbone=dict(
        type='mmbackbones.PyramidVisionTransformerV2',
        embed_norm_eps=1e-5,
        init_cfg=dict(type='Pretrained', checkpoint='timm://pvt_v2_b2.in1k')))

# From scratch on the CPU: the base's AdamW at 5x its learning rate, 4 epochs of batch 2.
toy = dict(max_epochs=4, batch_size=2, lr=5e-4, warmup_iters=50)
