"""Issue 3's configs: the Swin-T Mask R-CNN (1x, 3x), RetinaNet and UperNet configs and twins.

* each real config equals the mmdet / mmseg config it mirrors in everything but the backbone
  entry, and the whole model has exactly as many parameters as the reference's;
* each toy twin inherits its real config and changes the model only where the data or the
  input scale require it (class count, pretrained weights, crop size, sampling budgets).
"""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'swin_maskrcnn': ('mmdet', 'swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'),
    'swin_maskrcnn_3x': ('mmdet', 'swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'),
    'swin_retinanet': ('mmdet', 'swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py'),
    'swin_upernet_ade20k': (
        'mmseg', 'swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'),
}
# Top-level names that are only helpers of the config files themselves.
HELPER_KEYS = {'custom_imports', 'pretrained', 'checkpoint_file', 'backbone_norm_cfg',
               'multi_scales', 'max_epochs', 'data_preprocessor', 'norm_cfg'}


def flatten(node, prefix=''):
    out = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(flatten(value, f'{prefix}.{key}' if prefix else key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            out.update(flatten(value, f'{prefix}.{i}'))
    else:
        out[prefix] = node
    return out


def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', f'{name}.py'))


def reference(scope, rel_path):
    package = pytest.importorskip(scope)
    return Config.fromfile(osp.join(osp.dirname(package.__file__), '.mim', 'configs', rel_path))


def build_model(cfg):
    import mmbackbones  # noqa: F401
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    else:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    register_all_modules()
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None
    if model_cfg.get('decode_head'):
        for head in ('decode_head', 'auxiliary_head'):
            model_cfg[head].norm_cfg = dict(type='BN', requires_grad=True)
    return MODELS.build(model_cfg)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_real_config_mirrors_openmmlab(name):
    ours, ref = load(name), reference(*CONFIGS[name])
    a, b = flatten(ours.to_dict()), flatten(ref.to_dict())
    differing = sorted(key for key in set(a) | set(b) if a.get(key, '<absent>') !=
                       b.get(key, '<absent>') and key.split('.')[0] not in HELPER_KEYS
                       and not key.startswith('model.backbone.'))
    assert differing == []
    backbone = ours.model.backbone
    assert backbone.type == 'mmbackbones.SwinTransformer' and backbone.arch == 'tiny'
    assert backbone.init_cfg == dict(type='Pretrained',
                                     checkpoint='timm://swin_tiny_patch4_window7_224.ms_in1k')
    assert backbone.drop_path_rate == ref.model.backbone.drop_path_rate
    assert tuple(backbone.out_indices) == tuple(ref.model.backbone.get('out_indices',
                                                                        (0, 1, 2, 3)))
    assert ours.custom_imports == dict(imports=['mmbackbones'], allow_failed_imports=False)
    header = open(osp.join(ROOT, 'configs', f'{name}.py')).read().split('_base_')[0]
    assert re.search(r'\d\d\.\d', header) and ('mmdet' in header or 'mmseg' in header)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_same_parameter_count_as_openmmlab(name):
    ours, ref = load(name), reference(*CONFIGS[name])
    ref.model.backbone.init_cfg = None
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(build_model(ours)) == count(build_model(ref))


# Model entries a toy twin may change, and why.
TOY_MODEL_CHANGES = [
    r'backbone\.init_cfg.*',  # offline: no pretrained weights
    r'.*num_classes',  # the synthetic data's classes
    r'data_preprocessor\.size\.\d',  # crop size of the toy input scale
    r'train_cfg\.(rpn_proposal|rcnn\.sampler)\..*',  # proposal budgets scaled with image area
    r'test_cfg\.(rpn\.)?nms_pre', r'test_cfg\.rpn\.max_per_img',
]


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_toy_twin_changes_only_data_schedule_and_scale(name):
    toy_file = osp.join(ROOT, 'configs', 'toy', f'{name}.py')
    assert f"_base_ = '../{name}.py'" in open(toy_file).read()
    real, toy = load(name), Config.fromfile(toy_file)
    a, b = flatten(real.model.to_dict()), flatten(toy.model.to_dict())
    changed = [key for key in set(a) | set(b) if a.get(key, '<absent>') != b.get(key, '<absent>')]
    unexpected = [key for key in changed
                  if not any(re.fullmatch(pattern, key) for pattern in TOY_MODEL_CHANGES)]
    assert unexpected == []
    assert toy.model.backbone.init_cfg is None
    assert 'toy_' in toy.train_dataloader.dataset.data_root
    assert toy.default_scope == real.default_scope


def test_toy_mask_rcnn_step_on_cpu():
    """One optimisation step of the demo's model on a synthetic batch."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'toy', 'swin_maskrcnn.py'))
    model = build_model(cfg)
    model.train()
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    from mmdet.structures.mask import BitmapMasks
    sample = DetDataSample(metainfo=dict(img_shape=(128, 128), ori_shape=(128, 128),
                                         pad_shape=(128, 128), scale_factor=(1.0, 1.0)))
    masks = torch.zeros(1, 128, 128, dtype=torch.uint8)
    masks[0, 30:70, 40:90] = 1
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[40., 30., 90., 70.]]),
                                       labels=torch.tensor([2]),
                                       masks=BitmapMasks(masks.numpy(), 128, 128))
    data = model.data_preprocessor(dict(inputs=[torch.randint(0, 255, (3, 128, 128),
                                                              dtype=torch.uint8)],
                                        data_samples=[sample]), True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)
