# UperNet, ConvNeXt-T backbone, ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmseg configs/convnext/
# convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py (AdamW lr 1e-4, weight decay 0.05,
# stage-wise learning-rate decay 0.9, mixed precision; Liu et al. 2022).
# Expected: 46.11 mIoU single-scale, 46.62 multi-scale + flip on ADE20K val (mmseg model zoo);
# the ConvNeXt paper, Table 4: 46.7 (multi-scale), 60M parameters, 939 GFLOPs at 2048x512.
# Differences from mmseg's config: ImageNet-1k weights from timm (convnext_tiny.fb_in1k) and
# this project's layer-decay constructor, whose parameter groups equal mmseg's on ConvNeXt.
_base_ = ['mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py',
          './_base_/backbones/convnext.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(backbone=_base_._convnext_tiny_backbone)
optim_wrapper = dict(constructor='mmbackbones.LayerDecayOptimizerConstructor')

# From scratch on the CPU: 300 iterations of 2 images at 3x the real learning rate.
toy = dict(max_iters=300, batch_size=2, lr=3e-4, warmup_iters=30)
