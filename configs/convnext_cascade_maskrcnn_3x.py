# Cascade Mask R-CNN + FPN, ConvNeXt-T backbone, COCO 2017, 3x schedule (36 epochs) with
# multi-scale training and random crops, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/convnext/
# cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py (4conv1fc box
# heads with GIoU loss, AdamW lr 2e-4, weight decay 0.05, layer-wise learning-rate decay 0.7
# over 6 layers, mixed precision; the Swin recipe, Liu et al. 2022).
# Expected on COCO val2017: 50.3 box AP / 43.6 mask AP (mmdet model zoo); the ConvNeXt paper,
# Table 3: 50.4 / 43.7, 86M parameters, 741 GFLOPs at 1280x800.
# Differences from mmdet's config: ImageNet-1k weights from timm (convnext_tiny.fb_in1k) and
# this project's layer-decay constructor, whose parameter groups equal mmdet's on ConvNeXt.
_base_ = ['mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py',
          './_base_/backbones/convnext.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

model = dict(backbone=_base_._convnext_tiny_backbone)
optim_wrapper = dict(constructor='mmbackbones.LayerDecayOptimizerConstructor')

toy = dict(max_epochs=2, batch_size=2, lr=5e-4, warmup_iters=50, roi_samples=32)
