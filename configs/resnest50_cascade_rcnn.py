# Cascade R-CNN + FPN, ResNeSt-50 backbone, COCO 2017, SyncBN, multi-scale-range 1x, 8 GPUs x 2.
# Source: the OpenMMLab reproduction, mmdet configs/resnest/
# cascade-rcnn_s50_fpn_syncbn-backbone+head_ms-range-1x_coco.py, of the ResNeSt paper's recipe
# (Zhang et al. 2022, arXiv 2004.08955, section 6.1): SyncBN in the backbone and the
# three 4conv1fc box heads, short side 640..800 at training, SGD lr 0.02, 12 epochs.
# Expected: 44.5 box AP on COCO val2017 (mmdet model zoo); ResNeSt paper (Detectron2): 45.41.
# Differences from mmdet's config: ImageNet weights from timm (resnest50d.in1k, the ResNeSt
# authors' own) normalised with the ImageNet mean/std those weights were trained with.
# Like-for-like ResNet baseline: resnet50_cascade_rcnn.py.
_base_ = ['mmdet::resnest/cascade-rcnn_s50_fpn_syncbn-backbone+head_ms-range-1x_coco.py',
          './_base_/backbones/resnest50.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(data_preprocessor=_base_._resnest_data_preprocessor,
             backbone=_base_._resnest50_backbone)

# From scratch on the CPU: batch 4, 8 epochs, SGD at half the real learning rate.
toy = dict(max_epochs=8, batch_size=4, lr=0.01, warmup_iters=100)
