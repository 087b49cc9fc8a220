# Mask R-CNN + FPN, Swin-T backbone, COCO 2017, 3x schedule (36 epochs) with multi-scale
# training and random crops (the DETR / Sparse R-CNN augmentation), 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/swin/
# mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py; same optimiser as swin_maskrcnn.py.
# Expected on COCO val2017: 46.0 box AP / 41.6 mask AP (mmdet model zoo; the Swin authors'
# Swin-Transformer-Object-Detection README and the ConvNeXt paper, Table 3, report the same).
_base_ = './swin_maskrcnn.py'

multi_scales = [(s, 1333) for s in range(480, 801, 32)]  # short side 480..800
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=multi_scales, keep_ratio=True)],
            [
                dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)],
                     keep_ratio=True),
                dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                     allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=multi_scales, keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

train_cfg = dict(max_epochs=36)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
