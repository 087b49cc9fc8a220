# Toy twin of configs/swin_retinanet.py: the same RetinaNet + Swin-T on the synthetic data of
# tools/make_toy_data.py (data/toy_coco, boxes only), sized for a CPU. Changes: data, schedule
# (AdamW as in the Mask R-CNN twin: SGD trains a transformer from scratch poorly), input scale;
# no pretrained weights (offline), so the backbone trains from scratch.
_base_ = '../swin_retinanet.py'

data_root = 'data/toy_coco/'
metainfo = dict(
    classes=('red_circle', 'green_square', 'blue_triangle', 'yellow_star', 'magenta_cross'),
    palette=[(220, 40, 40), (40, 190, 60), (30, 90, 220), (235, 215, 30), (200, 40, 200)])
img_scale = (128, 128)

model = dict(
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_classes=5),
    test_cfg=dict(nms_pre=500))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min_ratio=0.05, begin=0,
         end=max_epochs, by_epoch=True, convert_to_iter_based=True),
]
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }),
    clip_grad=dict(max_norm=10.0))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
log_processor = dict(window_size=10)
