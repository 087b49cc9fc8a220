# Mask R-CNN + FPN, Swin-T backbone, COCO 2017, 3x schedule (36 epochs) with multi-scale
# training and random crops (the DETR / Sparse R-CNN augmentation), 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmdet configs/swin/
# mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py; backbone and optimiser as swin_maskrcnn.py.
# Expected on COCO val2017: 46.0 box AP / 41.6 mask AP (mmdet model zoo; the Swin authors'
# Swin-Transformer-Object-Detection README and the ConvNeXt paper, Table 3, report the same).
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py', './_base_/backbones/swin.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# The base's backbone settings (OpenMMLab's argument names) are kept; only the implementation
# and the pretrained weights change.
model = dict(backbone=_base_._swin_tiny_backbone)

toy = dict(max_epochs=2, batch_size=2, lr=5e-4, warmup_iters=50, roi_samples=32)
