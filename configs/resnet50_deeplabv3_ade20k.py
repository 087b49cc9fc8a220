# DeepLabV3, ResNet-50-D8 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# Dilated ResNet-50 v1c (deep stem; strides (1, 2, 1, 1), dilations (1, 1, 2, 4)), SyncBN.
# Source: the OpenMMLab reproduction, mmseg configs/deeplabv3/
# deeplabv3_r50-d8_4xb4-160k_ade20k-512x512.py (SGD lr 0.01, momentum 0.9, weight decay 5e-4,
# poly decay); the ResNeSt paper's DeepLabV3 comparison (arXiv 2004.08955) also trains a
# dilated (output stride 8) ResNet-50 with SyncBN, in GluonCV.
# Expected: 42.66 mIoU single-scale, 44.09 multi-scale + flip on ADE20K val (mmseg model zoo).
# ResNeSt paper (GluonCV, 120 epochs, multi-scale + flip): 42.1 mIoU / 80.39 pixAcc.
# Differences from mmseg's config: ImageNet weights from timm (resnet50c.gluon_in1k, the same
# v1c architecture) instead of open-mmlab://resnet50_v1c.
# Like-for-like ResNeSt counterpart: resnest50_deeplabv3_ade20k.py.
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    pretrained=None,  # the backbone's init_cfg names the weights
    backbone=dict(  # the base's settings; our ResNet (v1c stem) and the weights below
        type='mmbackbones.ResNet',
        stem_type='deep',  # v1c, mmseg's ResNetV1c
        init_cfg=dict(type='Pretrained', checkpoint='timm://resnet50c.gluon_in1k')))

# From scratch on the CPU: the D8 backbone keeps 16x16 maps at 128 px, so batch 4, 400 iterations.
toy = dict(max_iters=400, batch_size=4, warmup_iters=50)
