"""``out_strides``, the feature-stride check at a spiking backbone's first forward pass, mmseg's ``pretrained``
and the error for a missing pre-trained checkpoint.

The stride tests paste a spiking backbone into the toolboxes' own ResNet configs (as a user would, without the
stride settings) and expect the first forward pass to stop with the settings to change and their right values.
"""
import copy
import pickle
from pathlib import Path

import mmdet
import mmseg
import pytest
import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.models.necks import FPN as DetFPN
from mmdet.models.necks import ChannelMapper
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmseg.apis import MMSegInferencer
from mmseg.models.necks import FPN as SegFPN
from torch import nn

from spikeformer_mm.models.backbones import ESpikeFormer, ESpikeFormerLarge, MetaSpikeFormer, Spikeformer
from spikeformer_mm.models.necks import SpikeSegFPN
from spikeformer_mm.models.stride_check import FeatureStrideError, neck_out_strides

pytestmark = pytest.mark.usefixtures('one_thread')

REPO = Path(__file__).resolve().parents[1]
TINY = dict(embed_dims=[16, 32, 64, 96], depths=(1, 1, 1, 1, 1))
WIDTHS = [16, 32, 64, 96]


def stock_config(package, path: str) -> Config:
    """A config shipped inside the toolbox (``<package>/.mim/configs/<path>``)."""
    return Config.fromfile(Path(package.__file__).parent / '.mim' / 'configs' / path)


def pasted_backbone(**kwargs) -> dict:
    """What a user pastes over the ResNet: a tiny Meta-SpikeFormer at outputs 1-4 (strides 4, 8, 16, 16)."""
    return dict(dict(type='spikeformer_mm.MetaSpikeFormer', arch=TINY, out_indices=(1, 2, 3, 4)), **kwargs)


def build(cfg: Config, scope: str) -> nn.Module:
    init_default_scope(scope)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('backbone_cls, arch, out_indices, strides', [
    (MetaSpikeFormer, TINY, (1, 2, 3, 4), (4, 8, 16, 16)),
    (ESpikeFormer, TINY, (0, 1, 2, 4), (2, 4, 8, 16)),
    (ESpikeFormerLarge, dict(embed_dims=[16, 32, 64], depths=(1, 1, 1, 1)), (1, 2, 3), (4, 8, 16)),
    (Spikeformer, dict(embed_dims=32, depth=1, num_heads=2), (0, 1, 2, 4), (2, 4, 8, 16)),
])
def test_out_strides_are_the_strides_of_the_outputs(backbone_cls, arch, out_indices, strides):
    backbone = backbone_cls(arch=arch, T=1, out_indices=out_indices)
    assert backbone.out_strides == strides
    with torch.no_grad():
        outs = backbone.eval()(torch.zeros(1, 3, 64, 96))
    assert [tuple(out.shape[-2:]) for out in outs] == [(64 // s, 96 // s) for s in strides]
    assert [out.shape[1] for out in outs] == list(backbone.out_channels)


def test_neck_geometry():
    strides = [4, 8, 16, 16]
    # mmdet's Mask R-CNN neck: one level per input, a fifth by a stride-2 max-pool
    assert neck_out_strides(DetFPN([8] * 4, 8, num_outs=5), strides) == [4, 8, 16, 16, 32]
    # RetinaNet's: from the second input on, two stride-2 convs on the last input
    assert neck_out_strides(DetFPN([8] * 4, 8, start_level=1, add_extra_convs='on_input', num_outs=5),
                            strides) == [8, 16, 16, 32, 64]
    assert neck_out_strides(DetFPN([8] * 4, 8, end_level=2, num_outs=3), strides) == [4, 8, 16]
    assert neck_out_strides(SegFPN([8] * 4, 8, num_outs=4), strides) == strides
    assert neck_out_strides(ChannelMapper([8] * 4, 8, num_outs=6), strides) == [4, 8, 16, 16, 32, 64]
    assert neck_out_strides(SpikeSegFPN([8] * 4, 8), strides) == strides
    assert neck_out_strides(nn.Sequential(SegFPN([8] * 4, 8, num_outs=4), DetFPN([8] * 4, 8, num_outs=5)),
                            strides) == [4, 8, 16, 16, 32]
    assert neck_out_strides(nn.Identity(), strides) is None


def expect_stride_error(model: nn.Module, *lines: str) -> None:
    """The first forward pass, and every one after it, raises listing exactly ``lines``."""
    for _ in range(2):
        with pytest.raises(FeatureStrideError) as error:
            model.extract_feat(torch.zeros(1, 3, 64, 64))
        listed = [line[4:] for line in str(error.value).splitlines() if line.startswith('  - ')]
        assert listed == list(lines), str(error.value)


def test_stock_mask_rcnn_with_a_pasted_backbone_stops_at_the_first_forward():
    cfg = stock_config(mmdet, 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
    cfg.model.backbone = pasted_backbone()
    cfg.model.neck.in_channels = WIDTHS
    model = build(cfg, 'mmdet')
    expect_stride_error(
        model,
        'model.rpn_head.anchor_generator.strides=[4, 8, 16, 32, 64] must be [4, 8, 16, 16, 32] '
        '(and base_sizes=[4, 8, 16, 32, 64] to keep the anchor sizes)',
        'model.roi_head.bbox_roi_extractor.featmap_strides=[4, 8, 16, 32] must be [4, 8, 16, 16]',
        'model.roi_head.mask_roi_extractor.featmap_strides=[4, 8, 16, 32] must be [4, 8, 16, 16]')


def test_stock_retinanet_with_a_pasted_backbone_names_anchors_and_neck_widths():
    cfg = stock_config(mmdet, 'retinanet/retinanet_r50_fpn_1x_coco.py')
    cfg.model.backbone = pasted_backbone()
    model = build(cfg, 'mmdet')
    expect_stride_error(
        model,
        "model.neck.in_channels=[256, 512, 1024, 2048] must be [16, 32, 64, 96] (the backbone's out_channels)",
        'model.bbox_head.anchor_generator.strides=[8, 16, 32, 64, 128] must be [8, 16, 16, 32, 64] '
        '(and base_sizes=[8, 16, 32, 64, 128] to keep the anchor sizes)')


def test_stock_semantic_fpn_stops_in_the_stock_inferencer(data_dir):
    cfg = stock_config(mmseg, 'sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py')
    cfg.model.pretrained = None
    cfg.model.backbone = pasted_backbone()
    cfg.model.neck.in_channels = WIDTHS
    inferencer = MMSegInferencer(model=cfg, device='cpu')
    image = next((data_dir / 'ade20k_mini' / 'images' / 'validation').glob('*.jpg'))
    with pytest.raises(FeatureStrideError, match=r'model\.decode_head\.feature_strides=\[4, 8, 16, 32\] must be '
                                                 r'\[4, 8, 16, 16\]'):
        inferencer(str(image))


def test_mmseg_base_pretrained_is_refused_with_the_fix_and_upernet_has_no_strides():
    cfg = stock_config(mmseg, 'upernet/upernet_r50_4xb4-160k_ade20k-512x512.py')
    cfg.model.backbone = pasted_backbone()
    cfg.model.decode_head.in_channels = WIDTHS
    cfg.model.auxiliary_head.in_channels = WIDTHS[2]
    assert cfg.model.pretrained == 'open-mmlab://resnet50_v1c'
    with pytest.raises(ValueError, match=r"got pretrained='open-mmlab://resnet50_v1c'.*Set model\.pretrained=None"):
        build(cfg, 'mmseg')
    cfg.model.pretrained = None
    cfg.model.backbone = pasted_backbone()  # the segmentor wrote pretrained into the backbone's config
    model = build(cfg, 'mmseg')
    feats = model.extract_feat(torch.zeros(1, 3, 64, 64))
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 4]
    assert not model.backbone._forward_pre_hooks  # checked: UPerHead and FCNHead declare no strides


def test_a_checkpoint_path_as_pretrained_becomes_init_cfg(tmp_path):
    source = MetaSpikeFormer(arch=TINY)
    path = tmp_path / 'backbone.pth'
    torch.save(source.state_dict(), path)
    with pytest.warns(UserWarning, match='pretrained is deprecated'):
        backbone = MetaSpikeFormer(arch=TINY, pretrained=str(path))
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=str(path))
    backbone.init_weights()
    assert all(torch.equal(value, source.state_dict()[key]) for key, value in backbone.state_dict().items())
    with pytest.raises(ValueError, match='either as pretrained'):
        MetaSpikeFormer(arch=TINY, pretrained=str(path), init_cfg=dict(type='Pretrained', checkpoint=str(path)))


@pytest.mark.parametrize('backbone_cls, arch, checkpoint, how', [
    (MetaSpikeFormer, TINY, 'checkpoints/missing_backbone.pth',
     'python tools/model_converters/biclab_to_mm.py RELEASED.pth checkpoints/missing_backbone.pth --family v2 '
     '--backbone-only'),
    (ESpikeFormer, TINY, 'checkpoints/missing_backbone.pth', '--family v3 --backbone-only'),
    (Spikeformer, dict(embed_dims=32, depth=1, num_heads=2),
     'work_dirs/spikeformer-8-512-t4_8xb64-adamw-300e_in1k/epoch_300.pth',
     'python tools/train.py configs/spikeformer/spikeformer-8-512-t4_8xb64-adamw-300e_in1k.py first'),
])
def test_a_missing_pretrained_checkpoint_names_how_to_make_it(backbone_cls, arch, checkpoint, how, tmp_path,
                                                               monkeypatch):
    (tmp_path / 'configs').symlink_to(REPO / 'configs')
    monkeypatch.chdir(tmp_path)  # no checkpoints/ or work_dirs/ here
    backbone = backbone_cls(arch=arch, init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    with pytest.raises(FileNotFoundError) as error:
        backbone.init_weights()
    assert how in str(error.value)
    assert 'model.backbone.init_cfg=None' in str(error.value)


class ToyDetector(nn.Module):
    """A module that holds a backbone, an unknown neck and an anchor head, as a detector does."""

    def __init__(self):
        super().__init__()
        self.backbone = MetaSpikeFormer(arch=TINY, out_indices=(1, 2, 3, 4))
        self.neck = nn.Identity()
        self.rpn_head = RPNHead(8, anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[1.0],
                                                         strides=[4, 8, 16, 32]))


def test_behind_an_unknown_neck_the_strides_are_not_checked_and_a_warning_says_so():
    model = ToyDetector()
    with pytest.warns(UserWarning, match='Identity is a neck of unknown geometry: the strides declared by '
                                         r'rpn_head are not checked against the backbone\'s out_strides'):
        model.backbone(torch.zeros(1, 3, 32, 32))


def test_a_backbone_on_its_own_or_copied_runs_unchecked():
    backbone = MetaSpikeFormer(arch=TINY, out_indices=(1, 2, 3, 4))
    backbone(torch.zeros(1, 3, 32, 32))
    assert not backbone._forward_pre_hooks
    model = ToyDetector()
    model.neck = DetFPN(WIDTHS, 8, num_outs=4)  # levels 4, 8, 16, 16 against anchors 4, 8, 16, 32
    copied = pickle.loads(pickle.dumps(copy.deepcopy(model)))
    copied.backbone(torch.zeros(1, 3, 32, 32))  # a copy does not know its parent: nothing to check
    with pytest.raises(FeatureStrideError, match=r'strides=\[4, 8, 16, 32\] must be \[4, 8, 16, 16\]'):
        model.backbone(torch.zeros(1, 3, 32, 32))
