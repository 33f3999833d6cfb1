"""Every Mask R-CNN config: builds, declares the strides its feature maps really have, follows the recipe.

The geometry test builds each config's detector with the backbone narrowed to test widths (the stage layout, and so
every stride, is the config's own) and runs it on a non-square image.
"""
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / 'configs' / 'mask_rcnn').glob('*.py'))
TEST_WIDTHS = [16, 32, 64, 96]
SPIKING = {'neck': 'spikeformer_mm.SpikeFPN', 'rpn_head': 'spikeformer_mm.SpikeRPNHead',
           'bbox_head': 'spikeformer_mm.SpikeConvFCBBoxHead', 'mask_head': 'spikeformer_mm.SpikeFCNMaskHead'}
STOCK = {'neck': 'FPN', 'rpn_head': 'RPNHead', 'bbox_head': 'Shared2FCBBoxHead', 'mask_head': 'FCNMaskHead'}
pytestmark = pytest.mark.usefixtures('one_thread')


def head_types(cfg) -> dict:
    model = cfg.model
    return {'neck': model.neck.type, 'rpn_head': model.rpn_head.type,
            'bbox_head': model.roi_head.bbox_head.type, 'mask_head': model.roi_head.mask_head.type}


def test_every_backbone_has_both_flavours_and_the_t4_fine_tunes():
    names = {path.name for path in CONFIGS}
    for model in ('meta-spikeformer-15m', 'meta-spikeformer-55m', 'e-spikeformer-10m', 'e-spikeformer-19m'):
        assert {f'mask-rcnn_{model}_fpn_1x_coco.py', f'mask-rcnn_{model}_spike-fpn_1x_coco.py'} <= names
    assert {'mask-rcnn_meta-spikeformer-15m-t4_spike-fpn_5e_coco.py',
            'mask-rcnn_meta-spikeformer-55m-t4_spike-fpn_5e_coco.py'} <= names


@pytest.mark.parametrize('config', CONFIGS, ids=lambda p: p.stem)
def test_declared_strides_match_the_feature_maps(config):
    cfg = Config.fromfile(config)
    cfg.model.backbone.arch = dict(embed_dims=TEST_WIDTHS)
    cfg.model.neck.in_channels = TEST_WIDTHS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    H, W = 96, 160
    inputs = model.data_preprocessor({'inputs': [torch.rand(3, H, W) * 255]})['inputs']
    sample = DetDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W), scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        (result,) = model.predict(inputs, [sample])
    assert result.pred_instances.masks.shape[1:] == (H, W)

    anchor_strides = [s[0] for s in model.rpn_head.prior_generator.strides]
    assert [s[1] for s in model.rpn_head.prior_generator.strides] == anchor_strides
    sizes = [tuple(f.shape[-2:]) for f in feats]
    assert sizes == [(math.ceil(H / s), math.ceil(W / s)) for s in anchor_strides]
    for extractor in (model.roi_head.bbox_roi_extractor, model.roi_head.mask_roi_extractor):
        assert extractor.featmap_strides == anchor_strides[:extractor.num_inputs]
        assert [layer.spatial_scale for layer in extractor.roi_layers] == [1 / s for s in extractor.featmap_strides]
    # The reference's declaration fails this check on the two coarsest levels (Spike-Driven-Transformer-V3
    # SDT_V3/Detection/configs/sdeformer_mask_rcnn/mask-rcnn_sdeformer_fpn_1x_coco.py: anchor strides 4..64).
    reference = [4, 8, 16, 32, 64]
    assert [(math.ceil(H / s), math.ceil(W / s)) == size for s, size in zip(reference, sizes)] == \
        [True, True, True, False, False]
    # Anchor sizes keep mmdet's 32..512 progression, one size per level.
    base = model.rpn_head.prior_generator.base_anchors
    assert [float(b[1, 2] - b[1, 0]) for b in base] == [32, 64, 128, 256, 512]  # the ratio-1 anchor of each level


@pytest.mark.parametrize('config', CONFIGS, ids=lambda p: p.stem)
def test_backbone_neck_and_recipe(config):
    cfg = Config.fromfile(config)
    backbone = cfg.model.backbone
    backbone_cls = MODELS.get(backbone.type)
    assert tuple(backbone.out_indices) == (1, 2, 3, 4)
    assert list(cfg.model.neck.in_channels) == list(backbone_cls.arch_settings[backbone.arch]['embed_dims'])
    assert head_types(cfg) == (SPIKING if '_spike-fpn_' in config.name else STOCK)
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW' and optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0
    warmup = cfg.param_scheduler[0]
    assert warmup.type == 'LinearLR' and not warmup.by_epoch and warmup.end == 1000
    if '-t4_' in config.name:  # fine-tune of the T=1 detector: nothing else to load
        assert backbone.T == 4 and backbone.init_cfg is None
        t1 = config.name.replace('-t4_', '_').replace('_5e_', '_1x_')
        assert cfg.load_from == f'work_dirs/{Path(t1).stem}/epoch_12.pth' and (config.parent / t1).is_file()
        assert optimizer.lr == 2.5e-5 and cfg.train_cfg.max_epochs == 5
    else:  # ImageNet weights from a local path the user provides: nothing downloads
        assert backbone.get('T', 1) == 1 and cfg.load_from is None
        assert backbone.init_cfg.type == 'Pretrained' and '://' not in backbone.init_cfg.checkpoint
        assert optimizer.lr == 2e-4 and cfg.train_cfg.max_epochs == 12
        assert cfg.param_scheduler[1].milestones == [8, 11]


def test_coco_root_reaches_every_loader_and_evaluator(monkeypatch, tmp_path):
    monkeypatch.setenv('COCO_ROOT', str(tmp_path))
    cfg = Config.fromfile(CONFIGS[0])
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.data_root == f'{tmp_path}/'
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.ann_file == f'{tmp_path}/annotations/instances_val2017.json'
        assert evaluator.metric == ['bbox', 'segm']
    assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train2017.json'


def test_training_pipeline_runs_on_real_coco_annotations(data_dir, monkeypatch):
    """The configs' DETR-style multi-scale training pipeline on coco_mini (RLE and polygon masks, crowd regions)."""
    monkeypatch.setenv('COCO_ROOT', str(data_dir / 'coco_mini'))
    cfg = Config.fromfile(CONFIGS[0])
    cfg.train_dataloader.dataset.update(ann_file='annotations/instances_val2017.json',
                                        data_prefix=dict(img='val2017/'))  # coco_mini has val2017 only
    with DefaultScope.overwrite_default_scope('mmdet'):  # the pipeline's transforms are mmdet's
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    short_sides = {s for s, _ in cfg.multi_scales}
    counts = {i: set() for i in range(len(dataset))}
    for seed in range(4):
        random.seed(seed)
        np.random.seed(seed)
        for i in counts:
            packed = dataset[i]
            gt = packed['data_samples'].gt_instances
            h, w = packed['inputs'].shape[1:]
            assert min(h, w) in short_sides or max(h, w) == 1333
            assert (gt.masks.height, gt.masks.width) == (h, w) and len(gt.masks) == len(gt.bboxes) > 0
            counts[i].add(len(gt.bboxes))
    assert any(len(c) > 1 for c in counts.values())  # the resize-crop-resize branch dropped some instances
