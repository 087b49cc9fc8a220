# LR-ASPP, MobileNetV3-Large-D8 backbone, ADE20K, 512x512 crops, 160k iterations, 4 GPUs x 4 images.
# Source: mmseg's LR-ASPP model, configs/_base_/models/lraspp_m-v3-d8.py (Howard et al. 2019,
# arXiv 1905.02244): MobileNetV3-Large at output stride 8, layers 1, 3 and 16 (16, 24 and 960
# channels), SyncBN; on mmseg's ADE20K data pipeline and 160k schedule (SGD lr 0.01, poly decay).
# Expected: no published ADE20K number: mmseg publishes LR-ASPP on Cityscapes only (M-V3-D8,
# 512x1024, 320k: 69.54 mIoU single-scale on Cityscapes val, mmseg model zoo).
# Differences from mmseg's config: timm's ImageNet weights (mobilenetv3_large_100.ra_in1k)
# instead of open-mmlab://contrib/mobilenet_v3_large, so the strided convs pad symmetrically
# as timm's (mmseg's pad as TensorFlow, 'SAME').
_base_ = [
    'mmseg::_base_/models/lraspp_m-v3-d8.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_160k.py'
]
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,  # the backbone's init_cfg names the weights
    backbone=dict(  # the base's settings; our MobileNetV3 with timm's padding and weights
        type='mmbackbones.MobileNetV3',
        padding='symmetric',
        output_stride=8,  # mmseg's MobileNetV3 is always dilated (its default in mmseg's scope)
        init_cfg=dict(type='Pretrained', checkpoint='timm://mobilenetv3_large_100.ra_in1k')),
    decode_head=dict(num_classes=150))
train_dataloader = dict(batch_size=4, num_workers=4)
