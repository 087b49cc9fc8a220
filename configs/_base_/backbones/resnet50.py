# Shared backbone fragment (docs/adding_a_family.md, "2. Its configs"): mmdet's standard ResNet-50
# (pytorch style, torchvision's ImageNet-1k V1 weights) in the ResNeSt paper's recipe, the
# like-for-like baseline of the resnest50_* detectors (resnet50_fasterrcnn.py and its siblings
# take it as their backbone).
_resnet50_syncbn_backbone = dict(
    type='mmbackbones.ResNet',
    depth=50,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,  # stem and first stage (OpenMMLab's meaning)
    norm_cfg=dict(type='SyncBN', requires_grad=True),  # BN without a GPU (tools/ switch it)
    norm_eval=False,
    style='pytorch',
    init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50.IMAGENET1K_V1'))
