"""tools/train.py, tools/test.py and the torchrun scripts: one set of entry points for classification, detection
and segmentation configs; data-path checks; distributed runs on CPU (gloo).

Training, resuming, COCO evaluation and a 2-process torchrun run on real data: tests/test_mask_rcnn_train.py.
"""
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch.distributed as dist
from conftest import load_tool
from mmengine.config import Config

from spikeformer_mm.engine.cpu_distributed import prepare_cpu_distributed, release_cpu_distributed
from spikeformer_mm.engine.data_paths import check_data_paths

REPO = Path(__file__).resolve().parents[1]
CLASSIFICATION = REPO / 'configs' / 'meta_spikeformer' / 'meta-spikeformer-tiny_digits.py'
DETECTION = REPO / 'configs' / 'mask_rcnn' / 'mask-rcnn_e-spikeformer-10m_spike-fpn_1x_coco.py'
SEGMENTATION = REPO / 'configs' / 'fpn' / 'spike-fpn_e-spikeformer-10m_4xb4-160k_ade20k-512x512.py'


@pytest.fixture(scope='module')
def train_tool():
    return load_tool('train')


@pytest.fixture(scope='module')
def test_tool():
    return load_tool('test')


@pytest.mark.parametrize('config', [CLASSIFICATION, DETECTION, SEGMENTATION], ids=['cls', 'det', 'seg'])
def test_train_options_apply_to_every_toolbox(train_tool, config, tmp_path):
    cfg = train_tool.build_config(train_tool.parse_args(
        [str(config), '--work-dir', str(tmp_path), '--amp', '--resume', '--launcher', 'pytorch',
         '--cfg-options', 'train_cfg.val_interval=3', 'randomness.seed=7']))
    assert cfg.work_dir == str(tmp_path) and cfg.launcher == 'pytorch'
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.resume is True and cfg.load_from is None  # --resume alone: the latest checkpoint of the work dir
    assert cfg.train_cfg.val_interval == 3 and cfg.randomness.seed == 7


def test_train_resume_from_a_named_checkpoint_and_default_work_dir(train_tool):
    cfg = train_tool.build_config(train_tool.parse_args([str(DETECTION), '--resume', 'ckpt/iter_4.pth']))
    assert cfg.resume is True and cfg.load_from == 'ckpt/iter_4.pth'
    assert cfg.work_dir == f'./work_dirs/{DETECTION.stem}'


def test_test_tool_loads_the_checkpoint_and_dumps_predictions(test_tool, tmp_path):
    checkpoint = tmp_path / 'epoch_12.pth'
    checkpoint.touch()
    cfg = test_tool.build_config(test_tool.parse_args(
        [str(DETECTION), str(checkpoint), '--out', str(tmp_path / 'out.pkl')]))
    assert cfg.load_from == str(checkpoint)
    assert [m['type'] for m in cfg.test_evaluator] == ['CocoMetric', 'DumpResults']
    assert cfg.test_evaluator[1]['out_file_path'] == str(tmp_path / 'out.pkl')


def test_missing_config_and_checkpoint_are_named(train_tool, test_tool, tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f'config file not found: {tmp_path}/nope.py')):
        train_tool.main([str(tmp_path / 'nope.py')])
    with pytest.raises(FileNotFoundError, match=re.escape(f'checkpoint file not found: {tmp_path}/nope.pth')):
        test_tool.main([str(DETECTION), str(tmp_path / 'nope.pth')])


def test_data_check_passes_on_real_layouts(data_dir):
    det = Config.fromfile(DETECTION)
    coco = data_dir / 'coco_mini'
    for loader in (det.val_dataloader, det.test_dataloader):
        loader.dataset.data_root = str(coco)
    det.val_evaluator.ann_file = det.test_evaluator.ann_file = str(coco / 'annotations/instances_val2017.json')
    check_data_paths(det, ('val', 'test'))
    seg = Config.fromfile(SEGMENTATION)
    seg.val_dataloader.dataset.data_root = str(data_dir / 'ade20k_mini')
    check_data_paths(seg, ('val',))
    check_data_paths(Config.fromfile(CLASSIFICATION), ('train', 'val', 'test'))  # in-memory digits: no paths


def test_data_check_names_each_missing_path(data_dir, tmp_path):
    seg = Config.fromfile(SEGMENTATION)
    seg.train_dataloader.dataset.data_root = str(data_dir / 'ade20k_mini')
    seg.train_dataloader.dataset.data_prefix.seg_map_path = 'labels/training'
    with pytest.raises(FileNotFoundError) as error:
        check_data_paths(seg, ('train',))
    assert str(error.value).splitlines()[1:] == [
        f"  train_dataloader.dataset.data_prefix.seg_map_path: {data_dir / 'ade20k_mini' / 'labels/training'}"]


def test_data_check_sees_through_dataset_wrappers_and_skips_remote_paths(tmp_path):
    (tmp_path / 'a.json').touch()
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict(
            type='ConcatDataset', datasets=[
                dict(data_root=str(tmp_path), ann_file='a.json'),
                dict(data_root=str(tmp_path), ann_file='b.json', data_prefix=dict(img='s3://bucket/imgs')),
            ]))),
        val_dataloader=dict(dataset=dict(data_root=str(tmp_path / 'val'))),
        val_cfg=None))
    with pytest.raises(FileNotFoundError) as error:
        check_data_paths(cfg, ('train', 'val'))  # val_cfg=None: no validation, its paths do not matter
    assert str(error.value).splitlines()[1:] == [
        f'  train_dataloader.dataset.dataset.datasets[1].ann_file: {tmp_path}/b.json']


def test_cpu_distributed_is_left_alone_when_not_distributed():
    cfg = Config(dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    prepare_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg


def test_cpu_distributed_needs_torchrun():
    with pytest.raises(ValueError, match="launcher='pytorch' \\(torchrun\\) only, got 'slurm'"):
        prepare_cpu_distributed(Config(dict(launcher='slurm')))


def test_cpu_distributed_initialises_gloo_and_a_device_less_wrapper(monkeypatch):
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT='29531').items():
        monkeypatch.setenv(key, value)
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='nccl')), find_unused_parameters=True))
    try:
        prepare_cpu_distributed(cfg)
        assert dist.is_initialized() and dist.get_backend() == 'gloo' and dist.get_world_size() == 1
    finally:
        release_cpu_distributed()  # what tools/train.py and tools/test.py do when the run ends
    assert not dist.is_initialized()
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                         find_unused_parameters=True, device_ids=None)


# A gloo run's end as the tools' __main__ does it, with a DDP model holding the group as mmengine's wrapper does;
# the last line must not run.
GLOO_RUN_END = textwrap.dedent("""
    import logging, sys, torch
    from mmengine.config import Config
    from spikeformer_mm.engine.cpu_distributed import (exit_cpu_distributed_process, prepare_cpu_distributed,
                                                        release_cpu_distributed)
    exit_cpu_distributed_process()  # no group started yet: returns
    logging.basicConfig(filename=sys.argv[1], level=logging.INFO)
    prepare_cpu_distributed(Config(dict(launcher='pytorch')))
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 4))
    logging.info('run finished')
    print('results', end='')
    release_cpu_distributed()
    exit_cpu_distributed_process()
    sys.exit(3)
""")


def test_a_finished_gloo_run_exits_with_its_logs_and_output_flushed(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    log = tmp_path / 'run.log'
    proc = subprocess.run([sys.executable, '-c', GLOO_RUN_END, str(log)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == 'results'
    assert log.read_text() == 'INFO:root:run finished\n'


@pytest.mark.parametrize('script, usage', [('dist_train.sh', 'CONFIG NUM_PROCS'),
                                           ('dist_test.sh', 'CONFIG CHECKPOINT NUM_PROCS')])
def test_dist_scripts_explain_their_arguments(script, usage):
    proc = subprocess.run(['bash', str(REPO / 'tools' / script), 'only-a-config'], capture_output=True, text=True)
    assert proc.returncode == 2 and usage in proc.stderr
