# DeepLabV3, ResNeSt-50-D8 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# Dilated ResNeSt-50 (strides (1, 2, 1, 1), dilations (1, 1, 2, 4)), SyncBN.
# Source: mmseg configs/resnest/resnest_s101-d8_deeplabv3_4xb4-160k_ade20k-512x512.py at depth 50
# (mmseg has only the S-101 config): resnet50_deeplabv3_ade20k.py with the backbone swapped for
# ResNeSt-50 (radix 2, reduction factor 4, average-pool downsampling), timm resnest50d.in1k
# weights. The ResNeSt paper's comparison: arXiv 2004.08955.
# Expected: no OpenMMLab number for S-50-D8; ResNeSt paper (multi-scale + flip): 45.12 mIoU
# (GluonCV, 120 epochs; 81.17 pixAcc; its R-50 baseline there: 42.1 mIoU).
# Like-for-like ResNet baseline: resnet50_deeplabv3_ade20k.py.
_base_ = './resnet50_deeplabv3_ade20k.py'

model = dict(
    backbone=dict(
        type='mmbackbones.ResNeSt',
        stem_channels=64,
        avg_down=True,
        radix=2,
        reduction_factor=4,
        init_cfg=dict(type='Pretrained', checkpoint='timm://resnest50d.in1k')))
