# RetinaNet + FPN, RegNetX-1.6GF backbone, COCO 2017 detection, 1x schedule, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/regnet/retinanet_regnetx-1.6GF_fpn_1x_coco.py
# (the recipe of regnetx_008_retinanet.py), with timm's RGB copy of the pycls weights fed RGB
# images under pycls's per-channel mean/std, as regnetx_032_maskrcnn.py.
# Expected: 37.3 box AP on COCO val2017 (mmdet model zoo), against 36.5 for ResNet-50 under the
# same detector (resnet50_retinanet.py).
_base_ = ['mmdet::regnet/retinanet_regnetx-1.6GF_fpn_1x_coco.py', './_base_/backbones/regnet.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    data_preprocessor=_base_._pycls_rgb_data_preprocessor,
    backbone=dict(  # the base's settings; our RegNet and the weights below
        type='mmbackbones.RegNet',
        init_cfg=dict(type='Pretrained', checkpoint='timm://regnetx_016.pycls_in1k')))
