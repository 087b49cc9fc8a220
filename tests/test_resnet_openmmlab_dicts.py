"""ResNet family: mmdet / mmseg backbone dicts build the same network here.

Each case takes ``model.backbone`` from a real config installed with mmdet 3.3.0 / mmseg 1.2.2
(mmseg's ``model.pretrained`` pushed into the backbone, as its ``EncoderDecoder`` does), builds
it with OpenMMLab's class and with ours (only ``type`` changed to ``mmbackbones.<same name>``),
in the package's default scope, and asserts (``helpers.compare_with_openmmlab``): the same
parameter count, the same frozen parameters, the same BatchNorm layers in train mode after
``train()``, the same parameter keys after conversion and the same eval-mode outputs with
OpenMMLab's (randomised) weights converted. Default-run cases are ResNet-18/50 at 64x64; the
101-layer ones are slow.
"""
import os.path as osp

import pytest

from mmbackbones.references import build_openmmlab

from .helpers import compare_with_openmmlab, openmmlab_config_dir

pytest.importorskip('mmcv.ops', reason='mmdet / mmseg need mmcv with compiled ops')
pytest.importorskip('mmdet')
pytest.importorskip('mmseg')


def real_backbone(scope, path, **overrides):
    """``model.backbone`` of an installed OpenMMLab config, as the package builds it."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(openmmlab_config_dir(scope), path))
    backbone = cfg.model.backbone.to_dict()
    if scope == 'mmseg' and cfg.model.get('pretrained') is not None:
        backbone['pretrained'] = cfg.model.pretrained  # what mmseg's EncoderDecoder does
    backbone.update(overrides)
    return backbone


# id: (scope, config path, what it covers)
CASES = {
    'faster-rcnn-r50-caffe': ('mmdet', 'faster_rcnn/faster-rcnn_r50-caffe_fpn_1x_coco.py'),
    'faster-rcnn-r50-c4': ('mmdet', 'faster_rcnn/faster-rcnn_r50-caffe_c4-1x_coco.py'),
    'faster-rcnn-r50-dc5': ('mmdet', 'faster_rcnn/faster-rcnn_r50-caffe-dc5_1x_coco.py'),
    'retinanet-r18': ('mmdet', 'retinanet/retinanet_r18_fpn_1x_coco.py'),
    'solov2-light-r18-default-norm-eval': ('mmdet', 'solov2/solov2-light_r18_fpn_ms-3x_coco.py'),
    'centernet-r18': ('mmdet', 'centernet/centernet_r18_8xb16-crop512-140e_coco.py'),
    'dcn-v1-c3-c5': ('mmdet', 'dcn/faster-rcnn_r50-dconv-c3-c5_fpn_1x_coco.py'),
    'dcn-v2-c3-c5': ('mmdet', 'dcnv2/faster-rcnn_r50-mdconv-c3-c5_fpn_1x_coco.py'),
    'gcnet-context-block': ('mmdet', 'gcnet/mask-rcnn_r50-gcb-r16-c3-c5_fpn_1x_coco.py'),
    'generalized-attention-1111': (
        'mmdet', 'empirical_attention/faster-rcnn_r50-attn1111_fpn_1x_coco.py'),
    'gn-ws-convws': ('mmdet', 'gn+ws/faster-rcnn_r50_fpn_gn-ws-all_1x_coco.py'),
    'deeplabv3-r50-v1c-d8': ('mmseg', 'deeplabv3/deeplabv3_r50-d8_4xb2-40k_cityscapes-512x1024.py'),
    'pspnet-r18-v1c-d8-basic': ('mmseg', 'pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'),
    'deeplabv3-r18b-torchvision': (
        'mmseg', 'deeplabv3/deeplabv3_r18b-d8_4xb2-80k_cityscapes-512x1024.py'),
    'upernet-r50-v1c': ('mmseg', 'upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'),
    'mask2former-r50-default-norm-eval': (
        'mmseg', 'mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py'),
}
SLOW_CASES = {
    'mask-rcnn-x101-32x4d': ('mmdet', 'mask_rcnn/mask-rcnn_x101-32x4d_fpn_1x_coco.py'),
    'res2net101': ('mmdet', 'res2net/faster-rcnn_res2net-101_fpn_2x_coco.py'),
    'resnest-s50': (
        'mmdet', 'resnest/faster-rcnn_s50_fpn_syncbn-backbone+head_ms-range-1x_coco.py'),
    'resnest-s101-d8': ('mmseg', 'resnest/resnest_s101-d8_deeplabv3_4xb4-160k_ade20k-512x512.py'),
    'solov2-x101-dcnv2': ('mmdet', 'solov2/solov2_x101-dcn_fpn_ms-3x_coco.py'),
    'res2net101-dcnv2': ('mmdet', 'vfnet/vfnet_res2net101-mdconv-c3-c5_fpn_ms-2x_coco.py'),
    'deeplabv3-r101-d16-multigrid': (
        'mmseg', 'deeplabv3/deeplabv3_r101-d16-mg124_4xb2-40k_cityscapes-512x1024.py'),
    'cascade-rcnn-r101-dcn': ('mmdet', 'dcn/cascade-rcnn_r101-dconv-c3-c5_fpn_1x_coco.py'),
}


def _params():
    cases = [pytest.param(k, *v, id=k) for k, v in CASES.items()]
    cases += [pytest.param(k, *v, id=k, marks=pytest.mark.slow) for k, v in SLOW_CASES.items()]
    return cases


@pytest.mark.parametrize('name,scope,path', _params())
def test_real_config_builds_the_same_network(name, scope, path):
    backbone = real_backbone(scope, path)
    # mmcv's DCN v1 refuses maps smaller than its kernel (layer4 is 2x2 at 64x64)
    size = (96, 96) if (backbone.get('dcn') or {}).get('type') == 'DCN' else (64, 64)
    compare_with_openmmlab(backbone, scope, size=size)


@pytest.mark.parametrize('overrides', [
    dict(depth=50),  # the mg124 dict at depth 50: multi_grid on a short last stage
    dict(depth=50, out_indices=(0, 1, 2)),
])
def test_mmseg_multi_grid_dict(overrides):
    backbone = real_backbone(
        'mmseg', 'deeplabv3/deeplabv3_r101-d16-mg124_4xb2-40k_cityscapes-512x1024.py',
        **overrides)
    assert backbone['multi_grid'] == (1, 2, 4) or list(backbone['multi_grid']) == [1, 2, 4]
    compare_with_openmmlab(backbone, 'mmseg')


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 4])
def test_frozen_stages_freeze_what_mmdet_freezes(frozen_stages):
    backbone = real_backbone('mmdet', 'retinanet/retinanet_r50_fpn_1x_coco.py',
                             frozen_stages=frozen_stages)
    ours, theirs = compare_with_openmmlab(backbone, 'mmdet')
    frozen = sum(p.numel() for p in ours.parameters() if not p.requires_grad)
    assert frozen == sum(p.numel() for p in theirs.parameters() if not p.requires_grad)
    if frozen_stages == 1:  # stem + layer1 of ResNet-50: 0.23 M, not stem + 2 stages (1.44 M)
        assert 0.2e6 < frozen < 0.25e6


def test_c4_dict_has_no_layer4_and_mmdet_parameter_count():
    backbone = real_backbone('mmdet', 'faster_rcnn/faster-rcnn_r50-caffe_c4-1x_coco.py')
    assert backbone['num_stages'] == 3
    ours = build_openmmlab(dict(backbone, type='mmbackbones.ResNet'), 'mmdet')
    theirs = build_openmmlab(backbone, 'mmdet')
    assert not hasattr(ours, 'layer4') and ours.out_strides == (16, )
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in theirs.parameters())


@pytest.mark.parametrize('scope,type_name', [('mmdet', 'ResNet'), ('mmdet', 'ResNetV1d'),
                                             ('mmseg', 'ResNetV1c'), ('mmseg', 'ResNetV1d'),
                                             ('mmdet', 'ResNeXt'), ('mmdet', 'Res2Net'),
                                             ('mmdet', 'ResNeSt'), ('mmseg', 'ResNeSt')])
def test_class_defaults_match(scope, type_name):
    """A minimal dict relies on every default of the class (stem, shortcut, widths, norm_eval,
    zero_init_residual, contract_dilation, ...)."""
    depth = 18 if type_name in ('ResNet', 'ResNetV1c') else 50
    ours, theirs = compare_with_openmmlab(dict(type=type_name, depth=depth), scope)
    assert ours.norm_eval == theirs.norm_eval
