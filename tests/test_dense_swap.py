"""The backbone-swap configs (projects/backbone_swap/configs/) build and train one step; the dense configs fail
clearly under the stock tools when a checkpoint they start from is missing.

Each swap config is the stock mmdet / mmseg / mmpretrain config with Meta-SpikeFormer as its backbone. The tests
shrink the widths (the strides stay the config's), point the data at tests/data and run one training step the way
mmengine's train loop does (``model.train_step`` with the config's optimizer).
"""
import importlib.util
import math
import re
import sys
from pathlib import Path

import mmdet
import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner

import spikeformer_mm  # noqa: F401

pytestmark = pytest.mark.usefixtures('one_thread')

REPO = Path(__file__).resolve().parents[1]
SWAP = REPO / 'projects' / 'backbone_swap' / 'configs'
WIDTHS = [16, 32, 64, 96]  # outputs 1-4 of the tiny backbone
SWAP_CONFIGS = {
    'mask-rcnn_meta-spikeformer-15m_fpn_1x_coco.py': {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox',
                                                       'loss_mask'},
    'retinanet_meta-spikeformer-15m_fpn_1x_coco.py': {'loss_cls', 'loss_bbox'},
    'fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512.py': {'decode.loss_ce'},
    'upernet_meta-spikeformer-15m_4xb4-160k_ade20k-512x512.py': {'decode.loss_ce', 'aux.loss_ce'},
    'meta-spikeformer-15m_8xb32_in1k.py': {'loss'},
}


def shrink(cfg: Config, data_dir: Path, tmp_path: Path) -> Config:
    """Tiny widths and one batch of tests/data for a swap config; its strides stay as they are."""
    model = cfg.model
    batch_size = 3
    model.backbone.update(arch=dict(embed_dims=WIDTHS, depths=(1, 1, 1, 1, 1)), init_cfg=None)
    if model.type == 'ImageClassifier':
        model.head.in_channels = WIDTHS[-1]
        ann_file = tmp_path / 'train.txt'  # mmpretrain's ImageNet annotation format: "file label"
        images = sorted(p.name for p in (data_dir / 'imagenet_samples').glob('*.JPEG'))
        batch_size = len(images)
        ann_file.write_text(''.join(f'{name} {label}\n' for label, name in enumerate(images)))
        dataset = dict(data_root='', data_prefix=str(data_dir / 'imagenet_samples'), ann_file=str(ann_file),
                       pipeline=[dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)),
                                 dict(type='PackInputs')])
    elif model.type == 'EncoderDecoder':
        model.data_preprocessor.size = (64, 64)
        if 'neck' in model:
            model.neck.update(in_channels=WIDTHS, out_channels=32)
            model.decode_head.update(in_channels=[32] * 4, channels=32)
        else:
            model.decode_head.update(in_channels=WIDTHS, channels=32)
            model.auxiliary_head.update(in_channels=WIDTHS[2], channels=16)
        dataset = dict(data_root=str(data_dir / 'ade20k_mini'), pipeline=[
            dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='Resize', scale=(64, 64), keep_ratio=False), dict(type='PackSegInputs')])
    else:
        model.neck.update(in_channels=WIDTHS, out_channels=32)
        if model.type == 'MaskRCNN':
            model.rpn_head.update(in_channels=32, feat_channels=32)
            model.roi_head.bbox_roi_extractor.out_channels = 32
            model.roi_head.bbox_head.update(in_channels=32, fc_out_channels=32)
            model.roi_head.mask_roi_extractor.out_channels = 32
            model.roi_head.mask_head.update(in_channels=32, conv_out_channels=32, num_convs=1)
        else:
            model.bbox_head.update(in_channels=32, feat_channels=32, stacked_convs=1)
        dataset = dict(data_root=f'{data_dir / "coco_mini"}/', ann_file='annotations/instances_val2017.json',
                       data_prefix=dict(img='val2017/'), pipeline=[
                           dict(type='LoadImageFromFile'),
                           dict(type='LoadAnnotations', with_bbox=True, with_mask=model.type == 'MaskRCNN'),
                           dict(type='Resize', scale=(128, 128), keep_ratio=True), dict(type='PackDetInputs')])
    cfg.train_dataloader.dataset.update(dataset)
    cfg.train_dataloader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    return cfg


@pytest.mark.parametrize('name', SWAP_CONFIGS)
def test_swap_config_trains_one_step(name, data_dir, tmp_path):
    cfg = shrink(Config.fromfile(SWAP / name), data_dir, tmp_path)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    backbone = model.backbone
    assert backbone.out_strides == ((16,) if model.__class__.__name__ == 'ImageClassifier' else (4, 8, 16, 16))
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = {key: value.detach().clone() for key, value in backbone.named_parameters()}
    model.train()
    log_vars = model.train_step(next(iter(loader)), optim_wrapper)

    assert SWAP_CONFIGS[name] <= set(log_vars), sorted(log_vars)
    assert math.isfinite(log_vars['loss'].item())
    # the stride check ran at the first forward, passed, and removed itself
    assert not backbone._forward_pre_hooks
    # the step reached the backbone: its stem and its last stage moved
    for key in ('stages.0.downsample.conv.weight', 'stages.4.downsample.conv.weight'):
        assert not torch.equal(before[key], backbone.get_parameter(key)), key


def test_readme_holds_the_swap_configs():
    """projects/README.md shows each swap config from ``_base_`` on, verbatim."""
    readme = (REPO / 'projects' / 'README.md').read_text()
    for name in SWAP_CONFIGS:
        text = (SWAP / name).read_text()
        body = text[text.index('_base_ ='):]
        assert body in readme, name
        assert f'backbone_swap/configs/{name}' in readme, name


@pytest.mark.parametrize('config', [  # each inherits the hook from the 15M T=4 config of its family
    'configs/mask_rcnn/mask-rcnn_meta-spikeformer-55m-t4_spike-fpn_5e_coco.py',
    'configs/fpn/spike-fpn_meta-spikeformer-55m-t4_4xb4-160k_ade20k-512x512.py',
])
def test_every_fine_tuning_config_checks_its_load_from(config):
    cfg = Config.fromfile(REPO / config)
    assert re.fullmatch(r'work_dirs/[^/]+/(epoch|iter)_\d+\.pth', cfg.load_from)
    assert list((REPO / 'configs').glob(f'**/{cfg.load_from.split("/")[1]}.py')), 'the run it loads has a config'
    assert any(hook['type'] == 'spikeformer_mm.LoadFromCheckHook' for hook in cfg.custom_hooks)


def stock_tool(package, monkeypatch, *args):
    """The ``main`` of ``<package>/.mim/tools/train.py`` (the toolbox's own script) with ``args`` on its command
    line."""
    path = Path(package.__file__).parent / '.mim' / 'tools' / 'train.py'
    spec = importlib.util.spec_from_file_location(f'{package.__name__}_stock_train', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(sys, 'argv', [str(path), *map(str, args)])
    return tool.main


@pytest.fixture
def fresh_dir(tmp_path, monkeypatch) -> Path:
    """An empty working directory (no checkpoints/, no work_dirs/) that sees the repository's configs/."""
    (tmp_path / 'configs').symlink_to(REPO / 'configs')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_stock_mmdet_train_names_the_converter_for_a_missing_backbone(fresh_dir, data_dir, monkeypatch):
    monkeypatch.setenv('COCO_ROOT', str(data_dir / 'coco_mini'))
    main = stock_tool(mmdet, monkeypatch, REPO / 'configs/mask_rcnn/mask-rcnn_meta-spikeformer-15m_fpn_1x_coco.py',
                      '--work-dir', fresh_dir / 'work', '--cfg-options',
                      'train_dataloader.dataset.ann_file=annotations/instances_val2017.json',
                      'train_dataloader.dataset.data_prefix.img=val2017/')
    with pytest.raises(FileNotFoundError) as error:
        main()
    message = str(error.value)
    assert ('python tools/model_converters/biclab_to_mm.py RELEASED.pth '
            'checkpoints/meta-spikeformer-15m_in1k_backbone.pth --family v2 --backbone-only') in message
    assert '--cfg-options model.backbone.init_cfg=None' in message


def test_stock_mmseg_train_names_the_t1_run_for_a_missing_load_from(fresh_dir, data_dir, monkeypatch):
    monkeypatch.setenv('ADE20K_ROOT', str(data_dir / 'ade20k_mini'))
    config = REPO / 'configs/fpn/spike-fpn_meta-spikeformer-15m-t4_4xb4-160k_ade20k-512x512.py'
    main = stock_tool(mmseg, monkeypatch, config, '--work-dir', fresh_dir / 'work')
    with pytest.raises(FileNotFoundError) as error:
        main()
    message = str(error.value)
    assert message.startswith("load_from='work_dirs/spike-fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512/"
                              "iter_160000.pth' does not exist")
    assert ('python tools/train.py configs/fpn/spike-fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512.py first'
            in message)
    assert '--cfg-options load_from=None' in message
