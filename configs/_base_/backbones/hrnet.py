# Shared backbone fragment (docs/adding_a_family.md, "2. Its configs"): our HRNet in mmseg's HRNetV2
# recipes, with mmseg's fusions (bilinear, resized to the target); the ImageNet weights were
# trained with nearest upsampling, as mmseg's own run starts from them too.
_hrnet_mmseg_backbone = dict(type='mmbackbones.HRNet', upsample_mode='bilinear')
