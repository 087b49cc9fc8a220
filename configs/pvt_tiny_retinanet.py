# RetinaNet + FPN, PVT-Tiny backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/pvt/retinanet_pvt-t_fpn_1x_coco.py
# (PVT paper, Wang et al. 2021, arXiv 2102.12122; AdamW lr 1e-4, weight decay 1e-4,
# single-scale 1333x800 training, the official ImageNet-1k PVT-Tiny weights of whai362/PVT).
# Expected on COCO val2017: 36.7 box AP (PVT paper / PVTv2 paper Table 3; the mmdet model
# zoo's run gets 36.6).
_base_ = 'mmdet::pvt/retinanet_pvt-t_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# The base's backbone settings (OpenMMLab's argument names) and weights are kept; only the
# implementation changes (the official layout is converted by its keys).
model = dict(
    backbone=dict(
        type='mmbackbones.PyramidVisionTransformer',
        init_cfg=dict(type='Pretrained', checkpoint='https://github.com/whai362/PVT/releases/'
                      'download/v2/pvt_tiny.pth')))

# From scratch on the CPU: the base's AdamW at 5x its learning rate, 4 epochs of batch 2.
toy = dict(max_epochs=4, batch_size=2, lr=5e-4, warmup_iters=50)
