# RetinaNet + FPN, MobileNetV1 backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: mmdet configs/retinanet/retinanet_r18_fpn_1x_coco.py with MobileNetV1 1.0 (timm's
# mobilenetv1_100.ra4_e3600_r224_in1k weights) returning levels 2, 3 and 4 (256, 512 and 1024
# channels at strides 8, 16, 32); the FPN adds its P6/P7 on its outputs.
# Expected: no published OpenMMLab or paper number for a MobileNetV1 RetinaNet. For scale:
# RetinaNet R-18 1x gets 31.7 box AP in mmdet.
_base_ = 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,  # another family than the base's ResNet
        type='mmbackbones.MobileNetV1',
        out_indices=(2, 3, 4),
        norm_eval=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='timm://mobilenetv1_100.ra4_e3600_r224_in1k')),
    neck=dict(in_channels=[256, 512, 1024], start_level=0, add_extra_convs='on_output'))
