# DeepLabV3, MobileNetV2-D8 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# Dilated MobileNetV2 (mmseg's: strides (1, 2, 2, 1, 1, 1, 1), dilations (1, 1, 1, 2, 2, 4, 4),
# output stride 8), levels 1, 2, 4, 6; SyncBN in the heads.
# Source: mmseg configs/mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb4-160k_ade20k-512x512.py (the
# recipe of deeplabv3_r101-d8_4xb4-160k_ade20k-512x512.py with MobileNetV2).
# Expected: 34.08 mIoU single-scale on ADE20K val (mmseg model zoo).
# Differences from mmseg's config: torchvision's ImageNet weights (mobilenet_v2.IMAGENET1K_V1)
# instead of mmcls://mobilenet_v2 (the same network, also trained on ImageNet-1k).
_base_ = 'mmseg::mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    pretrained=None,  # the backbone's init_cfg names the weights
    backbone=dict(  # the base's settings; our MobileNetV2 and the weights below
        type='mmbackbones.MobileNetV2',
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://mobilenet_v2.IMAGENET1K_V1')))
