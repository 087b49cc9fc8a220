# YOLOv3, MobileNetV2 backbone, COCO 2017 detection, 320-416 training, 416 test, 8 GPUs x 24 images.
# Source: mmdet configs/yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py (the 416 run; mmdet's
# 320 run, yolov3_mobilenetv2_8xb24-320-300e_coco.py, differs only in the input size): levels 2,
# 4 and 6 of MobileNetV2 (32, 96, 320 channels at strides 8, 16, 32) with LeakyReLU 0.1
# activations, as mmdet's recipe.
# Expected: 23.9 box AP on COCO val2017 (mmdet model zoo, 416); 22.2 at 320.
# Differences from mmdet's config: torchvision's ImageNet weights (mobilenet_v2.IMAGENET1K_V1,
# trained with ReLU6 as mmdet's open-mmlab://mmdet/mobilenet_v2) instead of mmdet's own.
_base_ = 'mmdet::yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings (LeakyReLU included); our MobileNetV2, the weights below
        type='mmbackbones.MobileNetV2',
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://mobilenet_v2.IMAGENET1K_V1')))
