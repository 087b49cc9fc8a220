# Mask R-CNN + HRFPN, HRNetV2p-W18 backbone, COCO 2017, 1x schedule (12 epochs), 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py
# (Wang et al. 2020, arXiv 1908.07919: the four branches concatenated at stride 4 and pooled
# into a five-level pyramid by mmdet's HRFPN; BN frozen in eval mode, single-scale 1333x800
# training, SGD lr 0.02).
# Expected: 37.7 box AP / 34.2 mask AP on COCO val2017 (mmdet model zoo).
# Differences from mmdet's config: ImageNet weights from timm (hrnet_w18.ms_in1k, the official
# HRNet-W18-C weights of open-mmlab://msra/hrnetv2_w18).
_base_ = 'mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(  # the base's settings; our HRNet and the weights below
        type='mmbackbones.HRNet',
        init_cfg=dict(type='Pretrained', checkpoint='timm://hrnet_w18.ms_in1k')))
