# UperNet, EfficientNet-B0 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# Source: mmseg configs/upernet/upernet_r50_4xb4-160k_ade20k-512x512.py with the ResNet-50 v1c
# swapped for EfficientNet-B0 (Tan & Le 2019; TensorFlow ImageNet-1k weights, timm
# tf_efficientnet_b0.in1k) and the heads' input channels set to its levels 2-5 (strides 4-32:
# 24, 40, 112, 320 channels; the auxiliary FCN head on 112); the rest as the R-50 recipe:
# SyncBN trained (eps 1e-3, the weights'), SGD lr 0.01, poly decay.
# Expected: no published number for this run (neither mmseg nor the EfficientNet authors report
# EfficientNet under UperNet on ADE20K); for scale, mmseg's R-50 baseline of this recipe:
# 42.05 mIoU single-scale.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    pretrained=None,  # the backbone's init_cfg names the weights
    backbone=dict(
        _delete_=True,  # another family: its own arguments (TensorFlow padding by default)
        type='mmbackbones.EfficientNet',
        arch='b0',
        out_indices=(2, 3, 4, 5),
        norm_cfg=dict(type='SyncBN', eps=1e-3, requires_grad=True),
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint='timm://tf_efficientnet_b0.in1k')),
    decode_head=dict(in_channels=[24, 40, 112, 320]),
    auxiliary_head=dict(in_channels=112))
