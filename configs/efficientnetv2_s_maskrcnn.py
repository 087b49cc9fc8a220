# Mask R-CNN + FPN, EfficientNetV2-S backbone, COCO 2017, 1x schedule, 8 GPUs x 2 images.
# Source: mmdet configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py with the ResNet-50 swapped for
# EfficientNetV2-S (Tan & Le 2021; TensorFlow ImageNet-1k weights, timm tf_efficientnetv2_s.in1k)
# and the FPN's input channels set to its levels 2, 3, 5, 6 (strides 4-32: 48, 64, 160, 256
# channels); the rest as the R-50 recipe: BN statistics frozen (norm_eval), the stem and the
# first stage frozen, single-scale 1333x800 training, SGD lr 0.02.
# Expected: no published number for this run (neither mmdet nor the EfficientNetV2 authors
# report EfficientNetV2 under Mask R-CNN); for scale, mmdet's R-50 baseline of this recipe:
# 38.2 box AP / 34.7 mask AP.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,  # another family: its own arguments (TensorFlow padding by default)
        type='mmbackbones.EfficientNetV2',
        arch='s',
        out_indices=(2, 3, 5, 6),
        frozen_stages=2,  # the stem conv and the first stage (OpenMMLab's meaning)
        norm_cfg=dict(type='BN', eps=1e-3, requires_grad=True),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='timm://tf_efficientnetv2_s.in1k')),
    neck=dict(in_channels=[48, 64, 160, 256]))
