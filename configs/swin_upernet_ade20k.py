# UperNet, Swin-T backbone, ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images.
# Source: the OpenMMLab reproduction, mmseg configs/swin/
# swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py
# (AdamW lr 6e-5, weight decay 0.01 with none on norms and position tables, drop path 0.3,
# 1500 iterations of linear warm-up then linear (poly, power 1) decay).
# Expected on ADE20K val: 44.41 mIoU single-scale, 45.79 multi-scale + flip (mmseg model zoo).
# The Swin authors' Swin-Transformer-Semantic-Segmentation README reports 44.51 / 45.81;
# the Swin paper's 46.1 (Table 3) is a multi-scale test.
_base_ = ['mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
          './_base_/backbones/swin.py']
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# The base's backbone settings (OpenMMLab's argument names) are kept; only the implementation
# and the pretrained weights change.
model = dict(backbone=_base_._swin_tiny_backbone)

# From scratch on the CPU: 300 iterations of 2 images at 5x the real learning rate.
toy = dict(max_iters=300, batch_size=2, lr=3e-4, warmup_iters=30)
