# RetinaNet + FPN, EfficientNet-B3 backbone, COCO 2017 detection, 896x896 crops, 1x schedule,
# 8 GPUs x 4 images.
# Source: the OpenMMLab reproduction, mmdet configs/efficientnet/
# retinanet_effb3_fpn_8xb4-crop896-1x_coco.py (Tan & Le 2019 backbone; every level trained with
# SyncBN eps 1e-3 momentum 0.01, drop path 0.2, levels 3-5 at strides 8-32 into the FPN,
# RetinaSepBNHead, random resize 0.8-1.2 and 896x896 crops, SGD lr 0.04).
# Expected: 40.5 box AP on COCO val2017 (mmdet model zoo).
# Differences from mmdet's config: the ImageNet weights come from timm (tf_efficientnet_b3.aa_in1k)
# instead of mmpretrain's conversion (efficientnet-b3_3rdparty_8xb32-aa_in1k); both are the
# TensorFlow release of EfficientNet-B3 trained with AutoAugment, in TensorFlow's padding.
_base_ = 'mmdet::efficientnet/retinanet_effb3_fpn_8xb4-crop896-1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings; our EfficientNet and the weights below
        type='mmbackbones.EfficientNet',
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint='timm://tf_efficientnet_b3.aa_in1k')))

# The 128-pixel toy images padded to 256 (the recipe pads its crops to a fixed size too):
# RetinaSepBNHead's BatchNorm at P7 (stride 128) needs more than one value per channel.
toy = dict(overrides=dict(model=dict(data_preprocessor=dict(
    batch_augments=[dict(type='BatchFixedSizePad', size=(256, 256))]))))
