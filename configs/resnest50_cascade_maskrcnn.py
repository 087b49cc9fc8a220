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
_base_ = ['mmdet::resnest/cascade-mask-rcnn_s50_fpn_syncbn-backbone+head_ms-1x_coco.py',
          './_base_/backbones/resnest50.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(data_preprocessor=_base_._resnest_data_preprocessor,
             backbone=_base_._resnest50_backbone)

# From scratch on the CPU: batch 4, 8 epochs, SGD at half the real learning rate.
toy = dict(max_epochs=8, batch_size=4, lr=0.01, warmup_iters=100)
