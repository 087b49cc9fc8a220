# COCO 2017 instance segmentation with multi-scale training: the short side is one of
# 640, 672, ..., 800 (long side at most 1333), as mmdet's configs/resnest "ms" Mask R-CNN and
# Cascade Mask R-CNN configs (masks kept as polygons until packing). Testing stays 1333x800.
_base_ = './coco_instance.py'

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='RandomChoiceResize', scales=[(1333, s) for s in range(640, 801, 32)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
