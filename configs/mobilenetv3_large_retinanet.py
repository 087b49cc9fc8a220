# RetinaNet + FPN, MobileNetV3-Large backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: mmdet configs/retinanet/retinanet_r18_fpn_1x_coco.py with MobileNetV3-Large (timm's
# mobilenetv3_large_100.ra_in1k weights) returning layers 6, 12 and 16 (40, 112 and 960 channels
# at strides 8, 16, 32); the FPN adds its P6/P7 on its outputs, as in mmdet's Swin RetinaNet.
# Expected: no published OpenMMLab or paper number for a MobileNetV3 RetinaNet. For scale:
# RetinaNet R-18 1x gets 31.7 box AP in mmdet.
_base_ = 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,  # another family than the base's ResNet
        type='mmbackbones.MobileNetV3',
        arch='large',
        padding='symmetric',
        output_stride=32,
        out_indices=(6, 12, 16),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='timm://mobilenetv3_large_100.ra_in1k')),
    neck=dict(in_channels=[40, 112, 960], start_level=0, add_extra_convs='on_output'))
