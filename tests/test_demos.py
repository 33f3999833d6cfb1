"""The demo scripts as a user runs them, on real images from tests/data: classification (mmpretrain's
ImageClassificationInferencer), detection (mmdet's DetInferencer), segmentation (mmseg's MMSegInferencer) and the
firing-rate map, each on a test-sized config with random weights (or a checkpoint saved here)."""
import importlib.util
import json
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as CLS_MODELS
from mmpretrain.registry import TRANSFORMS as CLS_TRANSFORMS

from spikeformer_mm.visualization.image_input import resize_to_multiple

REPO = Path(__file__).resolve().parents[1]
CLS_CONFIG = REPO / 'configs/e_spikeformer/e-spikeformer-2.7m_8xb256-lamb-200e_in1k.py'
DET_CONFIG = REPO / 'tests/configs/mask-rcnn_tiny_spike-fpn_coco-mini.py'
SEG_CONFIG = REPO / 'configs/fpn/spike-fpn_e-spikeformer-10m_4xb4-160k_ade20k-512x512.py'
pytestmark = pytest.mark.usefixtures('one_thread')


def load_demo(name: str):
    """``demo/{name}.py`` as a module (the demos are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f'spikeformer_demo_{name}', REPO / 'demo' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def fish(data_dir) -> Path:
    return data_dir / 'imagenet_samples' / 'n01440764_tench.JPEG'


@pytest.fixture(scope='module')
def cats(data_dir) -> Path:
    return data_dir / 'coco_mini' / 'val2017' / '000000039769.png'


def test_classification_demo_loads_the_checkpoint_and_predicts_what_the_model_does(fish, tmp_path):
    cfg = Config.fromfile(CLS_CONFIG)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        torch.manual_seed(0)
        model = CLS_MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor)).eval()
        checkpoint = tmp_path / 'cls.pth'
        torch.save({'state_dict': model.state_dict()}, checkpoint)
        # the same image through the config's own test pipeline and the model, without the inferencer
        pipeline = Compose([CLS_TRANSFORMS.build(t) for t in cfg.test_dataloader.dataset.pipeline])
        batch = pseudo_collate([pipeline(dict(img_path=str(fish)))])
        with torch.no_grad():
            (expected,) = model.test_step(batch)
    demo = load_demo('image_demo_cls')
    result = demo.main([str(fish), str(CLS_CONFIG), '--checkpoint', str(checkpoint), '--show-dir', str(tmp_path)])
    assert result['pred_label'] == int(expected.pred_label)
    assert result['pred_score'] == pytest.approx(expected.pred_score.max().item(), rel=1e-5)
    assert result['pred_class'] == mmcv_imagenet_class(result['pred_label'])
    vis = mmcv.imread(tmp_path / f'{fish.stem}.png')
    assert vis is not None and vis.shape[2] == 3


def mmcv_imagenet_class(index: int) -> str:
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    return IMAGENET_CATEGORIES[index]


def test_detection_demo_writes_boxes_inside_the_image_and_the_drawing(cats, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv('COCO_ROOT', str(data_dir / 'coco_mini'))
    cfg = Config.fromfile(DET_CONFIG)
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # random weights score every class below mmdet's default 0.05
    config = tmp_path / 'tiny_det.py'
    cfg.dump(config)
    torch.manual_seed(0)
    load_demo('image_demo_det').main([str(cats), str(config), '--out-dir', str(tmp_path), '--pred-score-thr', '0'])
    height, width = mmcv.imread(cats).shape[:2]
    preds = json.loads((tmp_path / 'preds' / f'{cats.stem}.json').read_text())
    boxes = np.array(preds['bboxes'])
    assert len(preds['labels']) == len(preds['scores']) == len(boxes) == len(preds['masks']) > 0
    assert all(0 <= label < 80 for label in preds['labels'])
    assert all(0 <= score <= 1 for score in preds['scores'])
    assert (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all() and (boxes >= 0).all()
    assert mmcv.imread(tmp_path / 'vis' / f'{cats.stem}.png').shape == (height, width, 3)


def tiny_seg_config(tmp_path: Path) -> Path:
    """The spiking Semantic-FPN config with a narrow backbone, neck and head, written to a file."""
    cfg = Config.fromfile(SEG_CONFIG)
    cfg.model.backbone.update(arch=dict(embed_dims=[16, 32, 64, 96]), init_cfg=None)
    cfg.model.neck.update(in_channels=[8, 16, 32, 96], out_channels=16)
    cfg.model.decode_head.update(in_channels=[16] * 4, channels=16)
    path = tmp_path / 'tiny_seg.py'
    cfg.dump(path)
    return path


def test_segmentation_demo_writes_a_class_map_of_the_image_s_size(cats, tmp_path):
    torch.manual_seed(0)
    load_demo('image_demo_seg').main([str(cats), str(tiny_seg_config(tmp_path)), '--out-dir', str(tmp_path)])
    height, width = mmcv.imread(cats).shape[:2]
    (pred,) = (tmp_path / 'pred').glob('*.png')
    classes = mmcv.imread(pred, flag='unchanged')
    assert classes.shape == (height, width) and classes.max() < 150
    assert mmcv.imread(tmp_path / 'vis' / f'{cats.stem}.png').shape == (height, width, 3)


def test_firing_map_demo_draws_one_panel_per_stage(fish, tmp_path):
    out_file, out_json = tmp_path / 'firing.png', tmp_path / 'firing.json'
    config = REPO / 'configs/meta_spikeformer/meta-spikeformer-tiny_digits.py'
    record = load_demo('firing_map_demo').main([str(fish), str(config), '--short-side', '64',
                                                '--out-file', str(out_file), '--out-json', str(out_json)])
    image = resize_to_multiple(mmcv.imread(fish), 64)
    height, width = image.shape[:2]
    assert (height, width) == (64, 96)  # the 500x375 fish: short side 64, long side rounded to a multiple of 32
    assert sorted(record.stage_maps) == [f'stages.{i}' for i in range(5)]
    panel = mmcv.imread(out_file)
    assert panel.shape == (18 + height, 6 * width, 3)
    assert np.array_equal(panel[18:, :width], image)
    saved = json.loads(out_json.read_text())
    assert saved['layers'] == pytest.approx(record.layer_rates)
    assert saved['stages'] == pytest.approx({s: m.mean().item() for s, m in record.stage_maps.items()})
    # stage i's map is on the grid of stride 2, 4, 8, 16, 16
    assert [tuple(record.stage_maps[f'stages.{i}'].shape[-2:]) for i in range(5)] == \
        [(height // s, width // s) for s in (2, 4, 8, 16, 16)]


def test_firing_map_demo_names_a_missing_image(tmp_path):
    with pytest.raises(FileNotFoundError, match='image file not found: .*nowhere.jpg'):
        load_demo('firing_map_demo').main([str(tmp_path / 'nowhere.jpg'), str(CLS_CONFIG)])
