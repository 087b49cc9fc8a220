# Shared backbone fragment (docs/adding_a_family.md, "2. Its configs"): our Swin-T with timm's
# ImageNet-1k weights (swin_tiny_patch4_window7_224.ms_in1k, the Swin authors' own); the base's
# backbone settings (OpenMMLab's argument names) are kept.
_swin_tiny_backbone = dict(
    type='mmbackbones.SwinTransformer',
    init_cfg=dict(type='Pretrained', checkpoint='timm://swin_tiny_patch4_window7_224.ms_in1k'))
