# Faster R-CNN + FPN, RegNetX-3.2GF backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/regnet/faster-rcnn_regnetx-3.2GF_fpn_1x_coco.py
# (the recipe of regnetx_032_maskrcnn.py without the mask head), with timm's RGB copy of the
# pycls weights fed RGB images under pycls's per-channel mean/std, as regnetx_032_maskrcnn.py.
# Expected: 39.9 box AP on COCO val2017 (mmdet model zoo), against 37.4 for ResNet-50 under the
# same detector (resnet50_fasterrcnn_1x.py).
_base_ = ['mmdet::regnet/faster-rcnn_regnetx-3.2GF_fpn_1x_coco.py', './_base_/backbones/regnet.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    data_preprocessor=_base_._pycls_rgb_data_preprocessor,
    backbone=dict(  # the base's settings; our RegNet and the weights below
        type='mmbackbones.RegNet',
        init_cfg=dict(type='Pretrained', checkpoint='timm://regnetx_032.pycls_in1k')))
