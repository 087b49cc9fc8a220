# FCN, HRNetV2-W48 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# Source: the OpenMMLab reproduction, mmseg configs/hrnet/fcn_hr48_4xb4-160k_ade20k-512x512.py
# (Wang et al. 2020, arXiv 1908.07919: HRNetV2, the four branches resized to stride 4 and
# concatenated by the head (resize_concat); SyncBN, SGD lr 0.01, poly decay).
# Expected: 42.02 mIoU single-scale on ADE20K val (mmseg model zoo).
# Differences from mmseg's config: ImageNet weights from timm (hrnet_w48.ms_in1k, the official
# HRNet-W48-C weights of open-mmlab://msra/hrnetv2_w48).
_base_ = ['mmseg::hrnet/fcn_hr48_4xb4-160k_ade20k-512x512.py', './_base_/backbones/hrnet.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    pretrained=None,  # the backbone's init_cfg names the weights
    backbone=dict(  # the base's settings; our HRNet and the weights below
        **_base_._hrnet_mmseg_backbone,
        init_cfg=dict(type='Pretrained', checkpoint='timm://hrnet_w48.ms_in1k')))
