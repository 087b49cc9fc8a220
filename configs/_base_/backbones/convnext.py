# Shared backbone fragment (docs/adding_a_family.md, "2. Its configs"): our ConvNeXt-T with timm's
# ImageNet-1k weights (convnext_tiny.fb_in1k, the ConvNeXt authors' own) in place of the mmdet /
# mmseg base's init_cfg (mmpretrain's checkpoint and its prefix).
_convnext_tiny_backbone = dict(
    type='mmbackbones.ConvNeXt',
    init_cfg=dict(_delete_=True, type='Pretrained', checkpoint='timm://convnext_tiny.fb_in1k'))
