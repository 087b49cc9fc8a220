# mmdet 20e: 20 epochs, step decay at epochs 16 and 19, linear warm-up.
_base_ = './det_1x.py'

train_cfg = dict(max_epochs=20)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=20, by_epoch=True, milestones=[16, 19], gamma=0.1),
]
