# Mask R-CNN + FPN, Swin-T backbone, COCO 2017, 1x schedule (12 epochs), 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py
# (AdamW lr 1e-4, weight decay 0.05 with none on norms and position tables, drop path 0.2,
# single-scale 1333x800 training, ImageNet-1k pretrained Swin-T).
# Expected on COCO val2017: 42.7 box AP / 39.3 mask AP (mmdet model zoo). The Swin authors'
# 1x run, trained multi-scale, reports 43.7 / 39.8 (Swin-Transformer-Object-Detection README).
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py', './_base_/backbones/swin.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# The base's backbone settings (OpenMMLab's argument names) are kept; only the implementation
# and the pretrained weights change.
model = dict(backbone=_base_._swin_tiny_backbone)

# The CPU run on synthetic data (tools/train.py --toy, make demo): Swin-T from scratch trains
# with AdamW at 5x the real learning rate, batch 2 and 2 epochs, and 32 RoIs per image.
toy = dict(max_epochs=2, batch_size=2, lr=5e-4, warmup_iters=50, roi_samples=32)
