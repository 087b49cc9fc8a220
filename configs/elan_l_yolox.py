# YOLOX-s head and recipe, YOLOv7-L ELAN backbone, COCO 2017 detection, 640x640, 300 epochs,
# 8 GPUs x 8 images, trained from scratch: the common-head comparison of the
# re-parameterisable YOLO backbones (suite `yolo` of configs/published.json).
# Source: mmdet configs/yolox/yolox_s_8xb8-300e_coco.py with this backbone (YOLOv7-L's settings:
# its own norm and SiLU) and the YOLOX PAFPN's in_channels set to the backbone's.
# Expected: no published number for this backbone under the YOLOX-s recipe; for scale: YOLOX-s
# (CSPDarknet-s) gets 40.5 box AP on COCO val2017 (mmdet model zoo).
_base_ = 'mmdet::yolox/yolox_s_8xb8-300e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='mmbackbones.YOLOv7Backbone', arch='L'),
    neck=dict(in_channels=[512, 1024, 1024]))
