# Mask R-CNN + FPN, ResNeSt-50 backbone, COCO 2017, SyncBN, multi-scale 1x, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/resnest/
# mask-rcnn_s50_fpn_syncbn-backbone+head_ms-1x_coco.py, of the ResNeSt paper's recipe
# (Zhang et al. 2022, arXiv 2004.08955, section 6.2): SyncBN in the backbone, the
# 4conv1fc box head and the mask head, short side one of 640, 672, ..., 800, SGD lr 0.02, 12 epochs.
# Expected: 42.6 box AP / 38.1 mask AP on COCO val2017 (mmdet); ResNeSt paper: 42.81 / 38.14.
# Differences from mmdet's config: ImageNet weights from timm (resnest50d.in1k, the ResNeSt
# authors' own) normalised with the ImageNet mean/std those weights were trained with.
# Like-for-like ResNet baseline: resnet50_maskrcnn.py.
_base_ = 'mmdet::resnest/mask-rcnn_s50_fpn_syncbn-backbone+head_ms-1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    # the ImageNet mean/std timm's ResNeSt weights were trained with (mmdet: "ResNeSt img_norm")
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    backbone=dict(  # the base's settings; our ResNeSt and the weights below
        type='mmbackbones.ResNeSt',
        init_cfg=dict(type='Pretrained', checkpoint='timm://resnest50d.in1k')))

# From scratch on the CPU: batch 4, 8 epochs, SGD at half the real learning rate.
toy = dict(max_epochs=8, batch_size=4, lr=0.01, warmup_iters=100)
