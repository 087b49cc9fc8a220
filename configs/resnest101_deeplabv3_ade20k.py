# DeepLabV3, ResNeSt-101-D8 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# Dilated ResNeSt-101 (strides (1, 2, 1, 1), dilations (1, 1, 2, 4)), SyncBN.
# Source: the OpenMMLab reproduction, mmseg configs/resnest/
# resnest_s101-d8_deeplabv3_4xb4-160k_ade20k-512x512.py: resnet101_deeplabv3_ade20k.py with the
# backbone swapped for ResNeSt-101 (128-channel deep stem), timm resnest101e.in1k weights.
# Expected: 45.71 mIoU single-scale, 46.59 multi-scale + flip on ADE20K val (mmseg model zoo).
# ResNeSt paper (GluonCV, 120 epochs, multi-scale + flip): 46.91 mIoU / 82.07 pixAcc.
# Like-for-like ResNet baseline: resnet101_deeplabv3_ade20k.py.
_base_ = './resnet101_deeplabv3_ade20k.py'

model = dict(
    backbone=dict(
        type='mmbackbones.ResNeSt',
        stem_channels=128,
        avg_down=True,
        radix=2,
        reduction_factor=4,
        init_cfg=dict(type='Pretrained', checkpoint='timm://resnest101e.in1k')))
