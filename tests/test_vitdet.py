"""ViTDet and its simple feature pyramid, beyond the battery: exact parity with timm's SAM ViT
with every table random (the battery's references start their relative tables and position
table at zero), MAE's weights, ViTDet's block layout, and the SimpleFPN neck."""
import pytest
import torch
import torch.nn.functional as F

import mmbackbones
from mmbackbones.models.backbones.vitdet import ViTDet
from mmbackbones.models.necks import SimpleFPN
from mmbackbones.weights import convert, detect_source
from mmbackbones.weights.convert import check_fits

from .helpers import feature_mismatch, randomise

TINY = dict(embed_dim=64, depth=4, num_heads=2, window_size=4)


def _tiny_sam():
    from timm.models.vision_transformer_sam import VisionTransformerSAM
    return VisionTransformerSAM(img_size=128, patch_size=16, num_classes=0, use_rel_pos=True,
                                global_attn_indexes=(1, 3), embed_dim=64, depth=4,
                                num_heads=2, window_size=4).eval()


def test_tiny_vitdet_equals_timm_sam_vit_with_every_table_random():
    """Windowed blocks with padding (6x9 and 10x13 maps, 4x4 windows), global blocks whose
    relative tables (learned for 8x8) are resized, a position table resized down and up with
    timm's antialiased kernel: the features of every block equal timm's."""
    ref = _tiny_sam()
    randomise(ref, every_parameter=True)
    ours = ViTDet(**TINY, img_size=128, window_block_indexes=[0, 2], pretrain_img_size=128,
                  pretrain_use_cls_token=False, pos_embed_antialias=True,
                  out_indices=(0, 1, 2, 3)).eval()
    assert detect_source(ref.state_dict(), ours) == 'timm'
    ours.load_state_dict(convert(ref.state_dict(), ours, 'timm'), strict=True)
    for size in ((96, 144), (160, 208)):
        x = torch.rand(2, 3, *size)
        with torch.no_grad():
            expected = ref.forward_intermediates(x, indices=4, intermediates_only=True)
            errors = feature_mismatch(ours(x), expected)
        assert max(errors) <= 1e-4, (size, errors)  # the battery's tolerance


def test_position_table_kernel_is_the_references():
    """Plain bicubic (detectron2 / mmdet ViTDet) by default; timm's antialiased kernel on
    request. The two differ even when upsampling 14x14 to a 1024 input's 64x64 map."""
    plain = ViTDet(**TINY, pretrain_img_size=224)
    randomise(plain, every_parameter=True)
    table = plain.pos_embed[:, 1:].reshape(1, 14, 14, -1).permute(0, 3, 1, 2)
    for antialias in (False, True):
        plain.pos_embed_antialias = antialias
        expected = F.interpolate(table, size=(64, 48), mode='bicubic', align_corners=False,
                                 antialias=antialias).permute(0, 2, 3, 1)
        assert torch.equal(plain.resized_pos_embed((64, 48)), expected)
    assert not torch.allclose(
        F.interpolate(table, size=(64, 48), mode='bicubic', antialias=True),
        F.interpolate(table, size=(64, 48), mode='bicubic', antialias=False), atol=1e-3)


def test_vitdet_blocks_follow_the_paper():
    """ViT-B/L/H: windowed attention except in the last block of each quarter (ViTDet's
    global blocks, the indexes of detectron2's and mmdet's ViTDet configs)."""
    for arch, global_blocks in (('base', (2, 5, 8, 11)), ('large', (5, 11, 17, 23)),
                                ('huge', (7, 15, 23, 31))):
        with torch.device('meta'):
            model = ViTDet(arch=arch)
        assert tuple(i for i, b in enumerate(model.blocks) if b.window_size == 0) == global_blocks
        assert all(b.window_size == 14 for i, b in enumerate(model.blocks)
                   if i not in global_blocks)
        # relative tables: the window's in windowed blocks, the 1024 input's 64x64 map in
        # global ones
        assert model.blocks[0].attn.rel_pos_h.shape[0] == 27
        assert model.blocks[global_blocks[0]].attn.rel_pos_h.shape[0] == 127
        assert model.out_channels == (model.embed_dim, ) and model.out_strides == (16, )


def test_layer_depths_are_vitdets_layer_decay():
    """ViTDet's layer-wise decay (detectron2's get_vit_lr_decay_rate, mmdet's ViTDet
    constructor): the patch embedding and position table are layer 0, block i is layer i + 1,
    so that with 12 blocks block i gets decay ** (12 - i) and the neck and heads the base rate."""
    with torch.device('meta'):
        model = ViTDet(arch='base')
    assert model.get_layer_depth('backbone.pos_embed', 'backbone.') == (0, 14)
    assert model.get_layer_depth('patch_embed.proj.weight') == (0, 14)
    assert model.get_layer_depth('blocks.3.attn.rel_pos_h') == (4, 14)
    assert model.get_layer_depth('blocks.11.mlp.fc2.bias') == (12, 14)


def test_mmdet_vitdet_dict_builds_the_vitdet_row():
    """mmdet's projects/ViTDet backbone dict (its ViT-B config) builds the row's network."""
    mmdet_dict = dict(img_size=1024, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                      drop_path_rate=0.1, window_size=14, mlp_ratio=4, qkv_bias=True,
                      norm_cfg=dict(type='LN', requires_grad=True),
                      window_block_indexes=[0, 1, 3, 4, 6, 7, 9, 10], use_rel_pos=True)
    with torch.device('meta'):
        pasted = mmbackbones.MODELS.build(dict(type='mmbackbones.ViTDet', **mmdet_dict))
        row = mmbackbones.build_backbone('vitdet_base_patch16')
    assert ({k: v.shape for k, v in pasted.state_dict().items()}
            == {k: v.shape for k, v in row.state_dict().items()})


def test_mae_weights_fill_the_vitdet_row():
    """MAE's ViT-B (timm's vit_base_patch16_224 keys, which MAE's release has) converts into
    vitdet_base_patch16: class token and final norm dropped, the position table keeps the class
    token's slot, the relative tables MAE lacks start at zero as in ViTDet; every tensor filled.
    The row's parameter count is that ViT-B's less those, plus the relative tables."""
    import timm
    with torch.device('meta'):
        mae = timm.create_model('vit_base_patch16_224', pretrained=False, num_classes=0)
        sam = timm.create_model('samvit_base_patch16', pretrained=False, num_classes=0)
        row = mmbackbones.build_backbone('vitdet_base_patch16')
    state = {k: torch.zeros(v.shape) for k, v in mae.state_dict().items()}
    assert detect_source(state, row) in ('official', 'timm')
    converted = convert(state, row, 'official')
    missing, unexpected, _ = check_fits(converted, row, 'mae', 'official')
    assert missing == [] and unexpected == []
    relative = [k for k in converted if '.attn.rel_pos_' in k]
    assert len(relative) == 24 and all(not converted[k].any() for k in relative)
    tables = sum(p.numel() for n, p in sam.named_parameters() if '.attn.rel_pos_' in n)
    vit = sum(p.numel() for n, p in mae.named_parameters() if not n.startswith(('cls_token',
                                                                                'norm.')))
    assert mmbackbones.get_variant('vitdet_base_patch16').params == vit + tables


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match='arch=.*embed_dim'):
        ViTDet(arch='base', embed_dim=384)
    with pytest.raises(ValueError, match='norm_cfg'):
        ViTDet(**TINY, norm_cfg=dict(type='BN'))
    with pytest.raises(ValueError, match='window_block_indexes'):
        ViTDet(**TINY, window_block_indexes=[0, 4])
    with pytest.raises(ValueError, match=r"arch='small'.*valid values"):
        ViTDet(arch='small')


# ------------------------------------------------------------------------------- SimpleFPN
def _neck(**overrides):
    cfg = dict(backbone_channel=64, in_channels=[16, 32, 64, 64], out_channels=24, num_outs=5,
               norm_cfg=dict(type='mmbackbones.LN2d', requires_grad=True))
    cfg.update(overrides)
    return SimpleFPN(**cfg)


def test_simple_fpn_levels_and_out_channels():
    neck = _neck()
    assert neck.out_channels == (24, ) * 5
    backbone = ViTDet(**TINY, img_size=128, window_block_indexes=[0, 2])
    x = torch.rand(1, 3, 200, 328)  # a 13x21 map (padded to the patch)
    feats = neck(backbone(x))
    assert [tuple(f.shape) for f in feats] == [(1, 24, 52, 84), (1, 24, 26, 42), (1, 24, 13, 21),
                                              (1, 24, 6, 10), (1, 24, 3, 5)]
    assert torch.equal(neck(backbone(x)[0])[2], feats[2])  # mmdet's ViT hands it a tensor
    with pytest.raises(ValueError, match='one map'):
        neck((torch.rand(1, 64, 8, 8), torch.rand(1, 64, 8, 8)))


def test_simple_fpn_computes_the_papers_pyramid():
    """Against the pyramid written out with functional ops from the paper's description:
    deconv, LayerNorm over channels, GELU, deconv (stride 4); deconv (8); the map (16); 2x2
    max pooling (32); then 1x1 conv + LN and 3x3 conv + LN per level; 1x1 stride-2 pooling of
    the last for the fifth."""
    neck = _neck().eval()
    randomise(neck, every_parameter=True)
    x = torch.rand(2, 64, 10, 14)

    def ln(t, norm):
        return F.layer_norm(t.permute(0, 2, 3, 1), (t.shape[1], ), norm.weight, norm.bias,
                            norm.eps).permute(0, 3, 1, 2)

    def deconv(t, layer):
        return F.conv_transpose2d(t, layer.weight, layer.bias, stride=2)

    up4 = deconv(F.gelu(ln(deconv(x, neck.fpn1[0]), neck.fpn1[1])), neck.fpn1[3])
    levels = [up4, deconv(x, neck.fpn2[0]), x, F.max_pool2d(x, 2)]
    expected = []
    for t, lateral, out in zip(levels, neck.lateral_convs, neck.fpn_convs):
        t = ln(F.conv2d(t, lateral.conv.weight, lateral.conv.bias), lateral.norm)
        expected.append(ln(F.conv2d(t, out.conv.weight, out.conv.bias, padding=1), out.norm))
    expected.append(expected[-1][:, :, ::2, ::2])
    with torch.no_grad():
        for got, want in zip(neck(x), expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_simple_fpn_builds_in_mmdet_and_refuses_bad_channels():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        neck = MODELS.build(dict(type='mmbackbones.SimpleFPN', backbone_channel=768,
                                 in_channels=[192, 384, 768, 768], out_channels=256, num_outs=5,
                                 norm_cfg=dict(type='mmbackbones.LN2d', requires_grad=True)))
    assert type(neck) is SimpleFPN and neck.out_channels == (256, ) * 5
    with pytest.raises(ValueError, match=r'in_channels must be \[16, 32, 64, 64\]'):
        _neck(in_channels=[64, 64, 64, 64])
    with pytest.raises(ValueError, match='num_outs'):
        _neck(num_outs=3)
