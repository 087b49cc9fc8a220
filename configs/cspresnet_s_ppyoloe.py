# PP-YOLOE+-s, CSPRepResNet (deepen 0.33, widen 0.5, large stem) backbone and
# CSPRepResPAN neck, COCO 2017 detection.
# Needs mmyolo (the optional `yolo` extra: pip install mmbackbones[yolo]).
# Source: mmyolo configs/ppyoloe/ppyoloe_plus_s_fast_8xb8-80e_coco.py (Xu et al. 2022, PP-YOLOE;
# 640x640, 80 epochs, 8 GPUs x 8 images, from the Objects365-pretrained PP-YOLOE+ weights).
# Expected: 43.5 box AP on COCO val2017 (mmyolo model zoo).
_base_ = 'mmyolo::ppyoloe/ppyoloe_plus_s_fast_8xb8-80e_coco.py'
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

# our backbone and CSPRepResPAN neck with the base's settings (same weights and outputs)
model = dict(backbone=dict(type='mmbackbones.PPYOLOECSPResNet'),
             neck=dict(type='mmbackbones.PPYOLOECSPPAFPN'))
# CPU toy run: from scratch (the Objects365 weights are a download), at one input size of 128
# pixels (with random toy sizes of 64..160 pixels a training step intermittently fails on a
# tensor size mismatch; not yet traced)
toy = dict(overrides=dict(load_from=None, model=dict(data_preprocessor=dict(batch_augments=[
    dict(type='PPYOLOEBatchRandomResize', random_size_range=(128, 128), interval=1,
         size_divisor=32, random_interp=True, keep_ratio=False)]))))
