# Cascade Mask R-CNN + FPN, ResNeSt-50 backbone, COCO 2017, SyncBN, multi-scale 1x, 8 GPUs x 2.
# Source: the OpenMMLab reproduction, mmdet configs/resnest/
# cascade-mask-rcnn_s50_fpn_syncbn-backbone+head_ms-1x_coco.py, of the ResNeSt paper's recipe
# (Zhang et al. 2022, arXiv 2004.08955, section 6.2): SyncBN in the backbone, the
# three 4conv1fc box heads and the mask head, short side one of 640, 672, ..., 800, SGD lr 0.02,
# 12 epochs.
# Expected: 45.4 box AP / 39.5 mask AP on COCO val2017 (mmdet); ResNeSt paper: 46.19 / 39.55.
# Differences from mmdet's config: ImageNet weights from timm (resnest50d.in1k, the ResNeSt
# authors' own) normalised with the ImageNet mean/std those weights were trained with.
# Like-for-like ResNet baseline: resnet50_cascade_maskrcnn.py.
_base_ = [
    '_base_/models/cascade_mask_rcnn_fpn.py',
    '_base_/datasets/coco_instance_ms.py',
    '_base_/schedules/det_1x.py',
    '_base_/det_runtime.py',
]
norm_cfg = dict(type='SyncBN', requires_grad=True)  # BN without a GPU (tools/ switch it)

model = dict(
    backbone=dict(
        type='mmbackbones.ResNeSt',
        depth=50,
        stem_channels=64,
        radix=2,
        reduction_factor=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,  # stem and first stage, as mmdet
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='timm://resnest50d.in1k')),
    neck=dict(in_channels=[256, 512, 1024, 2048]),
    roi_head=dict(
        # each stage keeps its own box coder; the 2fc heads become 4conv1fc with SyncBN
        bbox_head=[
            dict(head, type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg)
            for head in _base_.model.roi_head.bbox_head
        ],
        mask_head=dict(norm_cfg=norm_cfg)))
