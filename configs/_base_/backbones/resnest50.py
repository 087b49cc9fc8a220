# Shared backbone fragment (docs/adding_a_family.md, "2. Its configs"): our ResNeSt-50 in mmdet's
# ResNeSt recipes (the base's settings) with timm's ImageNet weights (resnest50d.in1k, the ResNeSt
# authors' own), normalised with the ImageNet mean/std those weights were trained with (mmdet:
# "ResNeSt img_norm").
_resnest_data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
_resnest50_backbone = dict(
    type='mmbackbones.ResNeSt',
    init_cfg=dict(type='Pretrained', checkpoint='timm://resnest50d.in1k'))
