"""A spiking Mask R-CNN trained, resumed, evaluated and trained distributed through the tools, on real COCO data.

The data is ``tests/data/coco_mini`` (3 real val2017 images: RLE and polygon masks, crowd regions), reached
through the configs' ``COCO_ROOT`` variable. The model is tests/configs/mask-rcnn_tiny_spike-fpn_coco-mini.py:
the real E-SpikeFormer spike-FPN config with a tiny backbone, 32-channel heads and 256x192 images. Each tool runs
in its own process, as a user runs it (torch.compile of the neurons off and one thread, to keep the run short
on a shared CPU).
"""
import json
import os
import pickle
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import load_tool

from spikeformer_mm.engine import load_checkpoint_file

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / 'tests' / 'configs' / 'mask-rcnn_tiny_spike-fpn_coco-mini.py'
COCO_METRICS = [f'coco/{kind}_{name}' for kind in ('bbox', 'segm')
                for name in ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')]


@pytest.fixture(scope='module')
def coco_root(data_dir) -> Path:
    return data_dir / 'coco_mini'


def run(args, coco_root, **env):
    """Run ``args`` (a tool and its options) from the repository root; fail with its output if it fails."""
    env = dict(os.environ, COCO_ROOT=str(coco_root), SPIKEFORMER_COMPILE='0', OMP_NUM_THREADS='1',
               PYTHON=sys.executable, **env)
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f'{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    return proc


def scalars(work_dir: Path) -> list:
    """The per-iteration training logs of the (single) run in ``work_dir``."""
    (log,) = work_dir.glob('*/vis_data/scalars.json')
    return [entry for entry in map(json.loads, log.read_text().splitlines()) if 'loss' in entry]


@pytest.fixture(scope='module')
def trained(tmp_path_factory, coco_root) -> Path:
    """8 iterations of tools/train.py (batch of the 3 images), checkpoints at iterations 4 and 8."""
    work_dir = tmp_path_factory.mktemp('train')
    run([sys.executable, 'tools/train.py', str(TINY), '--work-dir', str(work_dir)], coco_root)
    return work_dir


def test_training_loss_falls(trained):
    logs = scalars(trained)
    assert [entry['iter'] for entry in logs] == list(range(1, 9))
    losses = [entry['loss'] for entry in logs]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < 0.97 * sum(losses[:3]) / 3, losses
    assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'} <= set(logs[0])
    assert (trained / 'iter_4.pth').is_file() and (trained / 'iter_8.pth').is_file()


def test_resume_continues_at_the_saved_iteration(trained, coco_root, tmp_path):
    run([sys.executable, 'tools/train.py', str(TINY), '--work-dir', str(tmp_path),
         '--resume', str(trained / 'iter_4.pth'), '--cfg-options', 'train_cfg.max_iters=6'], coco_root)
    assert [entry['iter'] for entry in scalars(tmp_path)] == [5, 6]
    ckpt = load_checkpoint_file(tmp_path / 'iter_6.pth')  # weights_only, with the checkpoint allow-list
    assert ckpt['meta']['iter'] == 6
    # AdamW's step count went on from the resumed optimizer state (4 + 2), not from a fresh one.
    steps = {int(state['step']) for state in ckpt['optimizer']['state'].values()}
    assert steps == {6}


def test_test_tool_reports_coco_bbox_and_segm_metrics(trained, coco_root, tmp_path):
    out = tmp_path / 'predictions.pkl'
    # After 8 iterations every class score is below mmdet's default 0.05 threshold: keep all detections.
    run([sys.executable, 'tools/test.py', str(TINY), str(trained / 'iter_8.pth'), '--work-dir', str(tmp_path),
         '--out', str(out), '--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0'], coco_root)
    (log,) = tmp_path.glob('*/*.json')
    metrics = json.loads(log.read_text().splitlines()[-1])
    for name in COCO_METRICS:
        assert 0.0 <= metrics[name] <= 1.0, (name, metrics)
    predictions = pickle.loads(out.read_bytes())
    assert sorted(p['img_id'] for p in predictions) == [39769, 142238, 439180]
    for p in predictions:
        boxes = p['pred_instances']['bboxes']
        assert boxes.shape[0] == len(p['pred_instances']['masks']) > 0
        h, w = p['ori_shape']
        assert float(boxes[:, 2].max()) <= w and float(boxes[:, 3].max()) <= h


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_torchrun_training_and_testing_on_cpu(coco_root, tmp_path):
    train_dir, test_dir = tmp_path / 'train', tmp_path / 'test'
    run(['bash', 'tools/dist_train.sh', str(TINY), '2', '--work-dir', str(train_dir), '--cfg-options',
         'train_cfg.max_iters=2', 'train_dataloader.batch_size=2', 'default_hooks.checkpoint.interval=2'],
        coco_root, PORT=str(free_port()))
    (log,) = train_dir.glob('*/*.log')
    text = log.read_text()
    assert 'Distributed training: True' in text and 'Iter(train) [2/2]' in text
    assert [entry['iter'] for entry in scalars(train_dir)] == [1, 2]
    # each process tests half of the 3 images; CocoMetric gathers all of them
    run(['bash', 'tools/dist_test.sh', str(TINY), str(train_dir / 'iter_2.pth'), '2', '--work-dir', str(test_dir),
         '--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0'], coco_root, PORT=str(free_port()))
    (log,) = test_dir.glob('*/*.log')
    assert 'Iter(test) [2/2]' in log.read_text() and 'coco/segm_mAP:' in log.read_text()


def test_missing_data_root_is_named(tmp_path, monkeypatch):
    missing = tmp_path / 'no_coco'
    monkeypatch.setenv('COCO_ROOT', str(missing))
    with pytest.raises(FileNotFoundError, match=re.escape(f'train_dataloader.dataset.data_root: {missing}')):
        load_tool('train').main([str(TINY), '--work-dir', str(tmp_path)])


def test_missing_annotation_file_is_named(coco_root, tmp_path, monkeypatch):
    monkeypatch.setenv('COCO_ROOT', str(coco_root))
    ann = coco_root / 'annotations' / 'instances_test2017.json'
    checkpoint = tmp_path / 'unused.pth'  # the data check comes before any loading
    checkpoint.touch()
    with pytest.raises(FileNotFoundError, match=re.escape(f'test_evaluator.ann_file: {ann}')) as error:
        load_tool('test').main([str(TINY), str(checkpoint), '--work-dir', str(tmp_path), '--cfg-options',
                                f'test_evaluator.ann_file={ann}',
                                'test_dataloader.dataset.ann_file=annotations/instances_test2017.json'])
    assert 'test_dataloader.dataset.ann_file' in str(error.value)
