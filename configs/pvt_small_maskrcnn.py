# Mask R-CNN + FPN, PVT-Small backbone, COCO 2017, 1x schedule (12 epochs), 8 GPUs x 2 images.
# Source: PVT paper (Wang et al. 2021, arXiv 2102.12122), its Mask R-CNN rows carried over by the PVTv2
# paper's Table 3: mmdet's Mask R-CNN 1x with the backbone swapped and AdamW (lr 1e-4, weight
# decay 1e-4), the recipe of pvtv2_b2_maskrcnn.py, which this config inherits; the backbone is
# mmdet's PVT-Small (configs/pvt/retinanet_pvt-s_fpn_1x_coco.py) with the official weights.
# Expected on COCO val2017: 40.4 box AP / 37.8 mask AP (PVT paper).
_base_ = './pvtv2_b2_maskrcnn.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmbackbones.PyramidVisionTransformer',
        num_layers=[3, 4, 6, 3],
        init_cfg=dict(type='Pretrained', checkpoint='https://github.com/whai362/PVT/releases/'
                      'download/v2/pvt_small.pth')))
