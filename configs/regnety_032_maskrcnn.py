# Mask R-CNN + FPN, RegNetY-3.2GF backbone (RegNetX-3.2GF's recipe), COCO 2017, 1x schedule.
# Source: mmdet configs/regnet/mask-rcnn_regnetx-3.2GF_fpn_1x_coco.py (regnetx_032_maskrcnn.py)
# with RegNetY-3.2GF (squeeze-excitation, Radosavovic et al. 2020) and timm's RGB copy of its
# pycls ImageNet-1k weights; the FPN takes RegNetY-3.2GF's widths. mmdet has no RegNetY.
# Expected: no published number for this run (no OpenMMLab or paper result of RegNetY in a
# detector); nearest: mmdet's RegNetX-3.2GF Mask R-CNN 1x, 40.3 box AP / 36.6 mask AP (mmdet model
# zoo). On ImageNet RegNetY-3.2GF is 0.7 points above RegNetX-3.2GF (79.0 vs 78.3, the paper).
_base_ = './regnetx_032_maskrcnn.py'

model = dict(
    backbone=dict(
        arch='regnety_3.2gf',
        init_cfg=dict(type='Pretrained', checkpoint='timm://regnety_032.pycls_in1k')),
    neck=dict(in_channels=[72, 216, 576, 1512]))
