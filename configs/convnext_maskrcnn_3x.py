# Mask R-CNN + FPN, ConvNeXt-T backbone, COCO 2017, 3x schedule (36 epochs) with multi-scale
# training and random crops, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/convnext/
# mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py (AdamW lr 1e-4, weight decay 0.05,
# layer-wise learning-rate decay 0.95 over 6 layers, mixed precision; Liu et al. 2022).
# Expected on COCO val2017: 46.2 box AP / 41.7 mask AP (mmdet model zoo; the ConvNeXt paper,
# Table 3, reports the same). ConvNeXt paper: 48M parameters, 262 GFLOPs at 1280x800.
# Differences from mmdet's config: ImageNet-1k weights from timm (convnext_tiny.fb_in1k, the
# authors' weights, which mmpretrain's checkpoint converts) and this project's layer-decay
# constructor, whose parameter groups equal mmdet's on ConvNeXt.
_base_ = ['mmdet::convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py',
          './_base_/backbones/convnext.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# The base's backbone settings (mmpretrain's argument names) are kept; only the implementation
# and the pretrained weights change.
model = dict(backbone=_base_._convnext_tiny_backbone)
optim_wrapper = dict(constructor='mmbackbones.LayerDecayOptimizerConstructor')

toy = dict(max_epochs=2, batch_size=2, lr=5e-4, warmup_iters=50, roi_samples=32)
