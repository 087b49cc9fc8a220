# COCO 2017 detection with multi-scale-range training: the short side is drawn uniformly from
# 640..800 (long side at most 1333), as mmdet's configs/resnest "ms-range" configs and the
# ResNeSt paper's Detectron2 recipe. Testing stays single-scale 1333x800.
_base_ = './coco_detection.py'

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
