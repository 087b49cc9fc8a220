# YOLOX-tiny, CSPDarknet (deepen 0.33, widen 0.375) backbone, COCO 2017 detection, 416x416
# test scale, 300 epochs, 8 GPUs x 8 images, trained from scratch.
# Source: mmdet configs/yolox/yolox_tiny_8xb8-300e_coco.py (Ge et al. 2021): the YOLOX-s recipe
# with a narrower network, multi-scale 320-640 training and 416x416 testing.
# Expected: 32.0 box AP on COCO val2017 (mmdet model zoo).
_base_ = 'mmdet::yolox/yolox_tiny_8xb8-300e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(backbone=dict(type='mmbackbones.CSPDarknet'))  # the base's settings
