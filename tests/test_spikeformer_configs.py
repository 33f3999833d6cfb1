"""The Spikeformer configs: DVS128 Gesture, CIFAR10-DVS and ImageNet classifiers, Mask R-CNN and Semantic-FPN."""
import copy
import importlib
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from test_dvs import write_gesture_root

import spikeformer_mm  # noqa: F401
from spikeformer_mm.energy import EnergyCounter, build_report

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'spikeformer'
TINY_DETECTOR = Path(__file__).parent / 'configs' / 'mask-rcnn_tiny_fpn_coco-mini.py'
TINY_SPIKEFORMER = dict(arch=dict(embed_dims=32, depth=1, num_heads=4), T=2, init_cfg=None)  # widths 4, 8, 16, 32


def build(scope: str, cfg: dict, registry: str = 'MODELS'):
    """Build ``cfg`` from toolbox ``scope``'s registry under that default scope, restored afterwards."""
    with DefaultScope.overwrite_default_scope(scope):
        return getattr(importlib.import_module(f'{scope}.registry'), registry).build(cfg)
GESTURE = CONFIGS / 'spikeformer-2-256-t16_4xb4-adamw-200e_dvs128-gesture.py'
CIFAR10_DVS = CONFIGS / 'spikeformer-2-256-t16_4xb4-adamw-106e_cifar10-dvs.py'
IN1K = CONFIGS / 'spikeformer-8-512-t4_8xb64-adamw-300e_in1k.py'
MASK_RCNN = CONFIGS / 'mask-rcnn_spikeformer-8-512-t4_fpn_1x_coco.py'
SEG_FPN = CONFIGS / 'fpn_spikeformer-8-512-t4_4xb4-160k_ade20k-512x512.py'


def test_dvs_gesture_config_classifies_t16_event_frames_and_its_energy_is_counted():
    cfg = Config.fromfile(str(GESTURE))
    assert cfg.train_dataloader.dataset.data_root == 'data/DvsGesture'
    torch.manual_seed(0)
    model = build('mmpretrain', cfg.model).eval()
    with torch.no_grad(), EnergyCounter(model) as counter:
        batch = model.data_preprocessor(dict(inputs=[torch.rand(16, 2, 64, 64) * 3 for _ in range(2)]))
        assert batch['inputs'].shape == (2, 16, 2, 64, 64)
        assert model(batch['inputs'], mode='tensor').shape == (2, 11)
    report = build_report(counter.state())
    assert report['images'] == 2 and report['time_steps'] == 16
    layers = {row['name']: row for row in report['layers']}
    # The first conv sees event counts (MACs, every step: the frames differ); the attention products see spikes.
    first = layers['backbone.stages.0.conv.conv']
    assert first['input'] == 'real' and first['mac_ops'] == first['macs'] * 16
    # Attention: K^T V multiplies two spike tensors; Q (K^T V) multiplies spikes Q by the counts K^T V.
    matmuls = {row['name']: row['input'] for row in report['layers'] if row['type'] == 'matmul'}
    assert matmuls == {f'backbone.stages.4.{i}.attn.{name}': kind for i in (1, 2)
                       for name, kind in (('kv_matmul', 'spikes x spikes'), ('qkv_matmul', 'spikes'))}
    assert report['energy_mJ'] > 0


def test_cifar10_dvs_config_swaps_dataset_and_classes(monkeypatch):
    monkeypatch.setenv('CIFAR10_DVS_ROOT', '/datasets/cifar10-dvs')
    cfg = Config.fromfile(str(CIFAR10_DVS))
    for loader, split in ((cfg.train_dataloader, 'train'), (cfg.test_dataloader, 'test')):
        assert loader.dataset.type == 'spikeformer_mm.CIFAR10DVSDataset'
        assert loader.dataset.data_root == '/datasets/cifar10-dvs' and loader.dataset.split == split
    frames = next(t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'spikeformer_mm.EventsToFrames')
    assert cfg.model.backbone.T == frames.num_frames == 16
    head = build('mmpretrain', cfg.model).head
    assert head.fc.out_features == 10


def test_dvs_gesture_config_trains_and_evaluates_with_the_runner(tmp_path):
    """The config's datasets, pipeline, preprocessor and Accuracy evaluator through mmengine's Runner, on
    recordings written in the published format (tiny backbone, 4 frames of 32x32 to keep it fast)."""
    import numpy as np
    data_root = tmp_path / 'DvsGesture'
    data_root.mkdir()
    gestures = [(1, 1000, 4000, (0, 40)), (2, 6000, 9000, (88, 128))]
    write_gesture_root(data_root, np.random.default_rng(0), {'train': {'user01_led': gestures, 'user02_led': gestures},
                                                           'test': {'user03_led': gestures}})
    cfg = Config.fromfile(str(GESTURE))
    cfg.model.backbone.update(arch=dict(embed_dims=32, depth=1, num_heads=4), T=4)
    cfg.model.head.in_channels = 32
    pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    i = next(i for i, t in enumerate(pipeline) if t.type == 'spikeformer_mm.EventsToFrames')  # after augmentation
    pipeline[i].num_frames = 4
    pipeline.insert(i + 1, dict(type='spikeformer_mm.ResizeFrames', size=(32, 32)))
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.update(num_workers=0, batch_size=2)
        loader.dataset.update(data_root=str(data_root), pipeline=pipeline)
    cfg.train_cfg.update(max_epochs=2, val_interval=2)
    cfg.param_scheduler = []
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.logger.interval = 1
    cfg.custom_hooks = [dict(type='spikeformer_mm.EnergyHook', plot=False)]
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # leave no default scope behind
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.test()
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    assert runner.test_evaluator.dataset_meta['classes'][0] == 'hand_clapping'
    assert metrics['energy/mJ_per_image'] > 0 and 0 <= metrics['firing_rate/mean'] < 1


def test_in1k_config_classifies_images_through_direct_encoding():
    cfg = Config.fromfile(str(IN1K))
    torch.manual_seed(0)
    model = build('mmpretrain', cfg.model).eval()
    assert model.backbone.T == 4 and model.backbone.embed_dims == 512
    with torch.no_grad(), EnergyCounter(model) as counter:
        assert model(torch.rand(1, 3, 64, 64), mode='tensor').shape == (1, 1000)
    report = build_report(counter.state())
    # The repeated image costs the first conv's MACs once; every later layer sees spikes.
    first = report['layers'][0]
    assert first['name'] == 'backbone.stages.0.conv.conv' and first['mac_ops'] == first['macs'] == 64 * 64 * 64 * 27
    assert report['time_steps'] == 4 and all(row['input'] != 'real' for row in report['layers'][1:])


def test_mask_rcnn_config_feeds_the_fpn_at_its_declared_strides():
    cfg = Config.fromfile(str(MASK_RCNN))
    torch.manual_seed(0)
    model = build('mmdet', cfg.model).eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 128, 128))
    strides = cfg.model.rpn_head.anchor_generator.strides
    assert [f.shape[-1] for f in feats] == [128 // s for s in strides]
    assert all(f.shape[1] == 256 for f in feats)


def test_semantic_fpn_config_segments_at_stride_2():
    cfg = Config.fromfile(str(SEG_FPN))
    torch.manual_seed(0)
    model = build('mmseg', cfg.model).eval()
    with torch.no_grad():
        feats = model.backbone(torch.rand(1, 3, 64, 64))
        assert [tuple(f.shape[-3:]) for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]
        assert model._forward(torch.rand(1, 3, 64, 64)).shape == (1, 150, 32, 32)


def _loss_reaches_the_whole_backbone(model, batch) -> None:
    loss, _ = model.parse_losses(model.loss(batch['inputs'], batch['data_samples']))
    assert torch.isfinite(loss)
    loss.backward()
    for stage in (0, 4):  # the tokenizer's first conv and the encoder's attention
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.stages[stage].parameters())


def test_mask_rcnn_config_trains_on_real_coco_images(data_dir, monkeypatch):
    """The config's detector (tiny backbone, narrow neck and heads) on the 3 real coco_mini images."""
    monkeypatch.setenv('COCO_ROOT', str(data_dir / 'coco_mini'))
    cfg = Config.fromfile(str(MASK_RCNN))
    tiny = Config.fromfile(str(TINY_DETECTOR))
    cfg.model.backbone.update(TINY_SPIKEFORMER)
    cfg.model.neck = dict(tiny.model.neck, in_channels=[8, 16, 32, 32])
    for key in ('rpn_head', 'roi_head', 'train_cfg', 'test_cfg'):
        cfg.model[key] = tiny.model[key]
    torch.manual_seed(0)
    model = build('mmdet', cfg.model)
    dataset = build('mmdet', tiny.train_dataloader.dataset, 'DATASETS')
    batch = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(len(dataset))]), True)
    _loss_reaches_the_whole_backbone(model, batch)


def test_semantic_fpn_config_trains_on_real_ade20k_images(data_dir):
    cfg = Config.fromfile(str(SEG_FPN))
    cfg.model.backbone.update(TINY_SPIKEFORMER)
    cfg.model.data_preprocessor.size = (128, 128)
    cfg.model.neck.update(in_channels=[4, 8, 16, 32], out_channels=32)
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=32)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=str(data_dir / 'ade20k_mini'), pipeline=[
        dict(type='LoadImageFromFile'), dataset_cfg.pipeline[1],
        dict(type='Resize', scale=(128, 128), keep_ratio=False), dict(type='PackSegInputs')])
    torch.manual_seed(0)
    model = build('mmseg', cfg.model)
    dataset = build('mmseg', dataset_cfg, 'DATASETS')
    batch = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(len(dataset))]), True)
    _loss_reaches_the_whole_backbone(model, batch)
