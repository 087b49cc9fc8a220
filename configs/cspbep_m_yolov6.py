# YOLOv6-m, CSPBep (deepen 0.6, widen 0.75, RepVGG blocks) backbone and CSP-Rep-PAN neck,
# COCO 2017 detection. Needs mmyolo (the optional `yolo` extra: pip install mmbackbones[yolo]).
# Source: mmyolo configs/yolov6/yolov6_m_syncbn_fast_8xb32-300e_coco.py (Li et al. 2022, YOLOv6;
# 640x640, 300 epochs, 8 GPUs x 32 images, from scratch).
# Expected: 48.4 box AP on COCO val2017 (mmyolo model zoo).
_base_ = 'mmyolo::yolov6/yolov6_m_syncbn_fast_8xb32-300e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# our backbone and CSP-Rep-PAN neck with the base's settings (same weights and outputs)
model = dict(backbone=dict(type='mmbackbones.YOLOv6CSPBep'),
             neck=dict(type='mmbackbones.YOLOv6CSPRepPAFPN'))
