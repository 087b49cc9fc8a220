# UperNet, ViT-B/16 backbone with the multi-level neck, ADE20K, 512x512 crops, 160k iterations.
# Source: the OpenMMLab run, mmseg configs/vit/vit_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py
# (8 GPUs x 2 images; ViT-B/16 ImageNet-21k + 1k weights, blocks 3/6/9/12 rearranged to strides
# 4/8/16/32 by MultiLevelNeck; AdamW lr 6e-5, weight decay 0.01 with none on norms, class token
# and position table; 1500 iterations of linear warm-up, then linear (poly, power 1) decay).
# Expected on ADE20K val: 46.75 mIoU single-scale, 48.46 multi-scale + flip (mmseg model zoo).
_base_ = 'mmseg::vit/vit_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# The base's backbone settings (mmseg's argument names) are kept; the implementation and the
# weights change: timm's copy of the original ViT-B/16 (the jx_vit_base_p16_224 file mmseg
# converted), its position table resized to the 32x32 grid of img_size=512 on loading, as
# mmseg does. Stated settings: the patch conv keeps its bias (mmseg 0.x's PatchEmbed, which
# trained the published model, had one; mmseg 1.x's patch_bias=False default would silently drop
# it from the weights), the position table is resized without antialiasing (mmseg's resize;
# timm's models antialias), and the weights' final norm stays unused (mmseg's default
# final_norm=False: the last output is the last block's, as in the published run).
model = dict(
    pretrained=None,
    backbone=dict(
        type='mmbackbones.VisionTransformer',
        patch_bias=True,
        interpolate_antialias=False,
        final_norm=False,
        init_cfg=dict(type='Pretrained',
                      checkpoint='timm://vit_base_patch16_224.orig_in21k_ft_in1k')))

# From scratch on the CPU: 300 iterations of 2 images at 5x the real learning rate.
toy = dict(max_iters=300, batch_size=2, lr=3e-4, warmup_iters=30)
