# DeepLabV3, ResNet-101-D8 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# Dilated ResNet-101 v1c (deep stem; strides (1, 2, 1, 1), dilations (1, 1, 2, 4)), SyncBN.
# Source: mmseg configs/deeplabv3/deeplabv3_r101-d8_4xb4-160k_ade20k-512x512.py; recipe as
# resnet50_deeplabv3_ade20k.py with ResNet-101 (timm resnet101c.gluon_in1k weights).
# Expected: 45.00 mIoU single-scale, 46.66 multi-scale + flip on ADE20K val (mmseg model zoo).
# ResNeSt paper (GluonCV, 120 epochs, multi-scale + flip): 44.14 mIoU / 81.11 pixAcc.
# Like-for-like ResNeSt counterpart: resnest101_deeplabv3_ade20k.py.
_base_ = './resnet50_deeplabv3_ade20k.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='timm://resnet101c.gluon_in1k')))
