"""EnergyHook inside real mmdet (Mask R-CNN test loop) and mmseg (Semantic-FPN val loop) runs on real samples."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import spikeformer_mm  # noqa: F401
from spikeformer_mm.engine.hooks import EnergyHook

REPO = Path(__file__).resolve().parents[1]
MASK_RCNN = REPO / 'tests' / 'configs' / 'mask-rcnn_tiny_spike-fpn_coco-mini.py'
SEG_FPN = REPO / 'configs' / 'fpn' / 'spike-fpn_e-spikeformer-19m_4xb4-160k_ade20k-512x512.py'


def energy_files(work_dir: Path, stem: str):
    return sorted(p.name for p in (work_dir / 'energy').glob(f'{stem}.*'))


def test_hook_in_mask_rcnn_test_loop(tmp_path, data_dir, monkeypatch):
    torch.manual_seed(0)
    monkeypatch.setenv('COCO_ROOT', str(data_dir / 'coco_mini'))
    cfg = Config.fromfile(str(MASK_RCNN))
    cfg.work_dir = str(tmp_path)
    cfg.test_dataloader.dataset.indices = 1
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # random weights: keep boxes, so that the mask head runs too
    cfg.custom_hooks = [dict(type='spikeformer_mm.EnergyHook')]
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert metrics['energy/mJ_per_image'] > 0 and metrics['energy/GSOPs'] > 0
    # the test loop's logged scalars (LoggerHook's JSON in the run's log dir) include the energy
    logged = json.loads(next(Path(runner.log_dir).glob('*.json')).read_text())
    assert logged['energy/mJ_per_image'] == pytest.approx(metrics['energy/mJ_per_image'])
    assert 'firing_rate/mean' in logged
    assert energy_files(tmp_path, 'energy_test_1') == ['energy_test_1.csv', 'energy_test_1.json',
                                                        'energy_test_1.png']
    report = json.loads((tmp_path / 'energy' / 'energy_test_1.json').read_text())
    assert report['images'] == 1
    names = {row['name']: row for row in report['layers']}
    # the whole detector is counted: backbone, spiking FPN, RPN, box and mask heads (incl. the deconv)
    for prefix in ('backbone.', 'neck.', 'rpn_head.', 'roi_head.bbox_head.', 'roi_head.mask_head.'):
        assert any(name.startswith(prefix) for name in names), prefix
    assert names['backbone.stages.0.downsample.conv']['input'] == 'real'
    assert any(row['type'] == 'deconv2d' for name, row in names.items() if name.startswith('roi_head.mask_head.'))
    # spiking FPN and heads: every op after the encoding conv takes SFA integer levels
    assert {row['input'] for name, row in names.items() if not name.startswith('backbone.')} == {'integer'}
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in runner.model.modules())  # all detached


def seg_config(work_dir: Path, data_dir: Path, **hook) -> Config:
    cfg = Config.fromfile(str(SEG_FPN))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.update(arch=dict(embed_dims=[16, 32, 64, 96]), init_cfg=None)
    cfg.model.neck.update(in_channels=[8, 16, 32, 96], out_channels=32)
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=32)
    cfg.val_dataloader.dataset.data_root = str(data_dir / 'ade20k_mini')
    cfg.val_dataloader.dataset.indices = 2
    cfg.val_dataloader.dataset.pipeline[1].scale = (256, 128)
    cfg.val_dataloader.num_workers = 0
    cfg.val_dataloader.persistent_workers = False
    cfg.custom_hooks = [dict(type='spikeformer_mm.EnergyHook', **hook)]
    return cfg


def test_hook_in_semantic_fpn_val_loop_measures_every_interval(tmp_path, data_dir):
    torch.manual_seed(0)
    runner = Runner.from_cfg(seg_config(tmp_path, data_dir, interval=2, max_images=1))
    first = runner.val()
    assert first['energy/mJ_per_image'] > 0 and 0 < first['firing_rate/mean'] < 1
    scalars = [json.loads(line) for line in
               next(Path(runner.log_dir).glob('vis_data/scalars.json')).read_text().splitlines()]
    assert scalars[-1]['energy/mJ_per_image'] == pytest.approx(first['energy/mJ_per_image'])
    report = json.loads((tmp_path / 'energy' / 'energy_val_1.json').read_text())
    assert report['images'] == 1  # max_images: counting stopped after 1 of the 2 validation images
    assert any(row['name'].startswith('decode_head.') for row in report['layers'])
    second = runner.val()  # interval 2: not measured, no hook attached
    assert 'energy/mJ_per_image' not in second and 'mIoU' in second
    assert not (tmp_path / 'energy' / 'energy_val_2.json').exists()


def test_hook_rejects_bad_settings():
    with pytest.raises(ValueError, match='interval must be a positive int'):
        EnergyHook(interval=0)
    with pytest.raises(ValueError, match='max_images must be a positive int or None'):
        EnergyHook(max_images=0)
    with pytest.raises(KeyError, match='unknown compute energy preset'):
        EnergyHook(preset='7nm')
    with pytest.raises(KeyError, match='unknown memory energy preset'):
        EnergyHook(memory_preset='hbm')
