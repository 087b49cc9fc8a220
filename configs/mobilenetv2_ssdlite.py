# SSDLite, MobileNetV2 backbone, COCO 2017 detection, 320x320 input, 600 epochs, 8 GPUs x 24 images.
# Source: mmdet configs/ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py (Sandler et al. 2018,
# arXiv 1801.04381, SSDLite: depthwise-separable SSD heads): levels 4 and 7 of MobileNetV2 (96
# channels at stride 16 and the last 1x1 conv, 1280 at stride 32), BatchNorm eps 1e-3, SGD lr
# 0.015, cosine decay.
# Expected: 21.3 box AP on COCO val2017 (mmdet model zoo) for mmdet's run, which trains the
# backbone from scratch; there is no published number for this exact run, which starts from
# torchvision's ImageNet weights (mobilenet_v2.IMAGENET1K_V1; the paper's SSDLite with ImageNet
# weights reports 22.1 mAP on COCO test-dev).
# Differences from mmdet's config: ImageNet weights instead of the TruncNormal initialisation.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings; our MobileNetV2 and the weights below
        type='mmbackbones.MobileNetV2',
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://mobilenet_v2.IMAGENET1K_V1')))
