# YOLOX-s head and recipe, YOLOv6 CSPBep-m backbone (CSP stages of RepVGG blocks), COCO 2017
# detection, 640x640, 300 epochs, 8 GPUs x 8 images, trained from scratch: the common-head
# comparison of the re-parameterisable YOLO backbones (suite `yolo` of configs/published.json).
# Source: mmdet configs/yolox/yolox_s_8xb8-300e_coco.py with this backbone (YOLOv6-m's settings:
# deepen 0.6, widen 0.75, hidden ratio 2/3, RepVGG blocks, its own norm and ReLU) and the YOLOX
# PAFPN's in_channels set to the backbone's.
# Expected: no published number for this backbone under the YOLOX-s recipe; for scale: YOLOX-s
# (CSPDarknet-s) gets 40.5 box AP on COCO val2017 (mmdet model zoo).
_base_ = 'mmdet::yolox/yolox_s_8xb8-300e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='mmbackbones.YOLOv6CSPBep', deepen_factor=0.6, widen_factor=0.75,
        hidden_ratio=2. / 3, block_cfg=dict(type='RepVGGBlock'),
        act_cfg=dict(type='ReLU', inplace=True)),
    neck=dict(in_channels=[192, 384, 768]))
