"""Semantic-FPN on real ADE20K data (tests/data/ade20k_mini): train, test with IoUMetric, infer, bad input."""
import glob
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import load_tool
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmseg.apis import inference_model, init_model
from mmseg.registry import DATASETS, MODELS
from PIL import Image
from test_fpn_seg_models import tiny_model_cfg

import spikeformer_mm  # noqa: F401

pytestmark = pytest.mark.usefixtures('one_thread')

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs' / 'fpn' / 'spike-fpn_e-spikeformer-19m_4xb4-160k_ade20k-512x512.py'
ITERS = 30
# The real config with a tiny backbone, 128x128 training images and whole-image tests at short side 128.
TINY_CONFIG = """
_base_ = '{config}'
data_root = '{data_root}'
crop_size = (128, 128)
load_annotations = dict(type='spikeformer_mm.LoadCheckedSegAnnotations', num_classes=150, reduce_zero_label=True)
train_pipeline = [
    dict(type='LoadImageFromFile'), load_annotations,
    dict(type='Resize', scale=crop_size, keep_ratio=False), dict(type='PackSegInputs')]
test_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='Resize', scale=(512, 128), keep_ratio=True), load_annotations,
    dict(type='PackSegInputs')]
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=dict(_delete_=True, embed_dims=[16, 32, 64, 96]), init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 96], out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32))
train_dataloader = dict(batch_size=3, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
test_dataloader = dict(num_workers=0, persistent_workers=False,
                       dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_dataloader = None
val_cfg = None
val_evaluator = None
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end={iters})]
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={iters}))
randomness = dict(seed=0)
"""



@pytest.fixture(scope='module')
def ade(data_dir) -> Path:
    return data_dir / 'ade20k_mini'


@pytest.fixture(scope='module')
def trained(tmp_path_factory, ade):
    """A tiny spiking segmentor trained for ITERS iterations on the 3 real training images by tools/train.py."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp('fpn_seg')
    config = root / 'tiny_spike-fpn_ade20k.py'
    config.write_text(TINY_CONFIG.format(config=CONFIG, data_root=ade, iters=ITERS))
    work_dir = root / 'work_dir'
    load_tool('train').main([str(config), '--work-dir', str(work_dir)])
    return config, work_dir, work_dir / f'iter_{ITERS}.pth'


def test_training_loss_falls(trained):
    _, work_dir, ckpt = trained
    assert ckpt.is_file()
    (scalars,) = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))
    losses = [json.loads(line)['loss'] for line in open(scalars) if '"loss"' in line]
    assert len(losses) == ITERS
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert first > 4.0  # about ln(150): the untrained head guesses among 150 classes
    assert last < 0.85 * first, losses  # 30 iterations at lr 1e-3: about 4.6 -> 3.4


def test_tools_test_reports_iou_metrics_on_real_labels(trained, ade, tmp_path):
    config, _, ckpt = trained
    out = tmp_path / 'preds.pkl'
    metrics = load_tool('test').main([str(config), str(ckpt), '--work-dir', str(tmp_path), '--out', str(out)])
    assert set(metrics) == {'aAcc', 'mIoU', 'mAcc'}
    assert all(0 <= v <= 100 for v in metrics.values()), metrics
    # recompute the pixel accuracy from the dumped predictions and the label maps on disk
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 3
    correct = labelled = 0
    for sample in preds:
        raw = np.array(Image.open(ade / 'annotations' / 'validation' / (Path(sample['img_path']).stem + '.png')))
        pred = sample['pred_sem_seg']['data'][0].numpy()
        assert pred.shape == raw.shape
        valid = raw > 0  # 0 = "other", ignored; class k is stored as k + 1
        correct += int((pred[valid] == raw[valid].astype(np.int64) - 1).sum())
        labelled += int(valid.sum())
    assert metrics['aAcc'] == pytest.approx(100 * correct / labelled, abs=0.01)


def test_inference_on_a_non_square_image_returns_its_size(trained, ade):
    from spikeformer_mm.engine.checkpoint_loading import safe_checkpoint_loading
    config, _, ckpt = trained
    with safe_checkpoint_loading(require_complete_weights=True):  # a tools/train.py checkpoint, as the README loads it
        model = init_model(str(config), str(ckpt), device='cpu')
    image = ade / 'images' / 'validation' / 'ADE_val_00000003.jpg'
    assert Image.open(image).size == (400, 300)  # W x H, not a multiple of 16 after the resize to short side 128
    result = inference_model(model, str(image))
    labels = result.pred_sem_seg.data
    assert labels.shape == (1, 300, 400)
    assert 0 <= labels.min() and labels.max() < 150


def test_stock_fpn_flavour_learns_on_real_data(ade):
    """mmseg's own FPN + FPNHead over the spiking backbone: a few AdamW steps on the real training images."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(REPO / 'configs' / 'fpn' / 'fpn_e-spikeformer-19m_4xb4-160k_ade20k-512x512.py'))
    model.init_weights()
    dataset_cfg = Config.fromfile(str(CONFIG)).train_dataloader.dataset
    dataset_cfg.update(data_root=str(ade), pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='spikeformer_mm.LoadCheckedSegAnnotations', num_classes=150, reduce_zero_label=True),
        dict(type='Resize', scale=(128, 128), keep_ratio=False), dict(type='PackSegInputs')])
    dataset = DATASETS.build(dataset_cfg)
    batch = pseudo_collate([dataset[i] for i in range(3)])
    optim_wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    losses = [model.train_step(batch, optim_wrapper)['loss'].item() for _ in range(8)]
    assert losses[-1] < 0.9 * losses[0], losses


def build_test_dataset(data_root: Path):
    cfg = Config.fromfile(str(CONFIG)).test_dataloader.dataset
    cfg.data_root = str(data_root)
    return DATASETS.build(cfg)


def fake_ade(tmp_path: Path, ade: Path, labels: np.ndarray = None, with_annotations: bool = True) -> Path:
    """An ADEChallengeData2016 folder with one real validation image (linked) and its (edited) label map."""
    name = 'ADE_val_00000002'
    (tmp_path / 'images' / 'validation').mkdir(parents=True)
    (tmp_path / 'images' / 'validation' / f'{name}.jpg').symlink_to(ade / 'images' / 'validation' / f'{name}.jpg')
    if with_annotations:
        (tmp_path / 'annotations' / 'validation').mkdir(parents=True)
        if labels is None:
            labels = np.array(Image.open(ade / 'annotations' / 'validation' / f'{name}.png'))
        Image.fromarray(labels).save(tmp_path / 'annotations' / 'validation' / f'{name}.png')
    return tmp_path


def test_real_label_map_loads(tmp_path, ade):
    item = build_test_dataset(fake_ade(tmp_path, ade))[0]
    labels = item['data_samples'].gt_sem_seg.data
    assert labels.shape == (1, 364, 500)
    assert set(labels.unique().tolist()) <= set(range(150)) | {255}


@pytest.mark.parametrize('bad_value, dtype', [(151, np.uint8), (200, np.uint8), (300, np.uint16)])
def test_label_values_outside_0_to_150_are_rejected(tmp_path, ade, bad_value, dtype):
    labels = np.array(Image.open(ade / 'annotations' / 'validation' / 'ADE_val_00000002.png')).astype(dtype)
    labels[:5, :5] = bad_value
    dataset = build_test_dataset(fake_ade(tmp_path, ade, labels))
    with pytest.raises(ValueError, match=rf'ADE_val_00000002.png has values \[{bad_value}\] outside 0..150'):
        dataset[0]


def test_missing_folders_are_named(tmp_path, ade):
    with pytest.raises(FileNotFoundError, match=r'ADE20K img_path folder not found: .*missing/images/validation'):
        build_test_dataset(tmp_path / 'missing')
    with pytest.raises(FileNotFoundError, match=r'ADE20K seg_map_path folder not found: .*annotations/validation'):
        build_test_dataset(fake_ade(tmp_path / 'no_labels', ade, with_annotations=False))
    root = fake_ade(tmp_path / 'one_missing', ade)
    (root / 'images' / 'validation' / 'ADE_val_00000001.jpg').symlink_to(
        ade / 'images' / 'validation' / 'ADE_val_00000001.jpg')
    with pytest.raises(FileNotFoundError, match=r'1 of 2 ADE20K images have no label map, .*ADE_val_00000001.png'):
        build_test_dataset(root)
