# Shared backbone fragment (docs/adding_a_family.md, "2. Its configs"): what turns a resnest50_*
# detector into its ResNeSt-101 (mmdet's s101 configs: depth and stem width) with timm's
# ImageNet weights (resnest101e.in1k, the ResNeSt authors' own).
_resnest101_backbone = dict(
    depth=101,
    stem_channels=128,
    init_cfg=dict(type='Pretrained', checkpoint='timm://resnest101e.in1k'))
