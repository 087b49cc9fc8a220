# Cascade R-CNN + FPN, Res2Net-101 (26w x 4s, v1d) backbone, COCO 2017, 20 epochs, 8 GPUs x 2.
# Source: the OpenMMLab reproduction, mmdet configs/res2net/cascade-rcnn_res2net-101_fpn_20e_coco.py
# (Gao et al. 2021, arXiv 1904.01169; deep stem and average-pool shortcut, BN frozen in eval
# mode, stem and first stage frozen, single-scale 1333x800 training, SGD lr 0.02, 20 epochs).
# Expected: 45.7 box AP on COCO val2017 (mmdet; its Cascade R-CNN R-101 20e: 42.5).
# Differences from mmdet's config: ImageNet weights from timm (res2net101d.in1k, the v1d
# architecture of mmdet's open-mmlab://res2net101_v1d_26w_4s), so the stride-1 first blocks
# average-pool their last split as timm and the Res2Net authors do (mmdet's Res2Net pools only
# in strided blocks).
_base_ = 'mmdet::res2net/cascade-rcnn_res2net-101_fpn_20e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings; our Res2Net and the weights below
        type='mmbackbones.Res2Net',
        split_pool='always',  # timm's weights: the first blocks pool their last split
        init_cfg=dict(type='Pretrained', checkpoint='timm://res2net101d.in1k')))
