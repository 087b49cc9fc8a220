# YOLOX-s, CSPDarknet (deepen 0.33, widen 0.5) backbone, COCO 2017 detection, 640x640,
# 300 epochs, 8 GPUs x 8 images, trained from scratch.
# Source: mmdet configs/yolox/yolox_s_8xb8-300e_coco.py (Ge et al. 2021): Focus stem, SPP,
# YOLOX PAFPN and decoupled head, mosaic + mixup, SGD lr 0.01 with cosine decay.
# Expected: 40.5 box AP on COCO val2017 (mmdet model zoo); YOLOX paper: 40.5.
_base_ = 'mmdet::yolox/yolox_s_8xb8-300e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(backbone=dict(type='mmbackbones.CSPDarknet'))  # the base's settings
