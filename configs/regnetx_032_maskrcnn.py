# Mask R-CNN + FPN, RegNetX-3.2GF backbone, COCO 2017, 1x schedule (12 epochs), 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/regnet/mask-rcnn_regnetx-3.2GF_fpn_1x_coco.py
# (Radosavovic et al. 2020; pycls ImageNet-1k weights, BN frozen in eval mode, stem and first
# stage frozen, SGD lr 0.02 with weight decay 5e-5, single-scale 1333x800 training). The weights
# are timm's copy of the same pycls weights, whose first conv timm turned from BGR to RGB: the
# images are fed as RGB with the same per-channel mean/std that mmdet applies in BGR order, which
# computes exactly what mmdet's config computes.
# Expected on COCO val2017: 40.3 box AP / 36.6 mask AP (mmdet model zoo), against 38.2 / 34.7 for
# ResNet-50 under the same detector (resnet50_maskrcnn_1x.py).
_base_ = ['mmdet::regnet/mask-rcnn_regnetx-3.2GF_fpn_1x_coco.py', './_base_/backbones/regnet.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    data_preprocessor=_base_._pycls_rgb_data_preprocessor,
    backbone=dict(  # the base's settings; our RegNet and the weights below
        type='mmbackbones.RegNet',
        init_cfg=dict(type='Pretrained', checkpoint='timm://regnetx_032.pycls_in1k')))
