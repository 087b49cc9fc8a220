# YOLOX-s head and recipe, PP-YOLOE+-s CSPRepResNet backbone, COCO 2017 detection, 640x640,
# 300 epochs, 8 GPUs x 8 images, trained from scratch: the common-head comparison of the
# re-parameterisable YOLO backbones (suite `yolo` of configs/published.json).
# Source: mmdet configs/yolox/yolox_s_8xb8-300e_coco.py with this backbone (PP-YOLOE+-s's
# settings: deepen 0.33, widen 0.5, the large stem, its own norm and SiLU) and the YOLOX PAFPN's
# in_channels set to the backbone's.
# Expected: no published number for this backbone under the YOLOX-s recipe; for scale: YOLOX-s
# (CSPDarknet-s) gets 40.5 box AP on COCO val2017 (mmdet model zoo).
_base_ = 'mmdet::yolox/yolox_s_8xb8-300e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='mmbackbones.PPYOLOECSPResNet', deepen_factor=0.33,
        widen_factor=0.5, use_large_stem=True),
    neck=dict(in_channels=[128, 256, 512]))
