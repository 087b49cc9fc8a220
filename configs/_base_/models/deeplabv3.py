# DeepLabV3 (Chen et al. 2017): ASPP head at rates 1/12/24/36 on the last level, plus an FCN
# auxiliary head on level 2, SyncBN, 150 ADE20K classes
# (mmseg configs/_base_/models/deeplabv3_r50-d8.py). Meant for a dilated backbone (output
# stride 8, "D8": strides (1, 2, 1, 1), dilations (1, 1, 2, 4)).
# The backbone is left to the top-level config, which also sets the heads' in_channels.
norm_cfg = dict(type='SyncBN', requires_grad=True)  # BN without a GPU (tools/ switch it)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    decode_head=dict(
        type='ASPPHead',
        in_index=3,
        channels=512,
        dilations=(1, 12, 24, 36),
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
