"""tools/analysis_tools/energy.py: the report from the command line, for a classifier, detector and segmentor."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('energy_tool', REPO / 'tools' / 'analysis_tools' / 'energy.py')
energy_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(energy_tool)

CLASSIFIER = REPO / 'configs' / 'e_spikeformer' / 'e-spikeformer-2.7m_8xb256-lamb-200e_in1k.py'
MASK_RCNN = REPO / 'tests' / 'configs' / 'mask-rcnn_tiny_spike-fpn_coco-mini.py'
SEG_FPN = REPO / 'configs' / 'fpn' / 'spike-fpn_e-spikeformer-19m_4xb4-160k_ade20k-512x512.py'


def test_classifier_random_weights_and_inputs(tmp_path, capsys):
    out = tmp_path / 'report.json'
    report = energy_tool.main([str(CLASSIFIER), '--num-images', '3', '--batch-size', '2', '--input-shape', '64',
                               '64', '--out', str(out), '--top', '5'])
    printed = capsys.readouterr().out
    assert 'mJ/image' in printed and 'backbone.stages.0.downsample.conv' in printed
    saved = json.loads(out.read_text())
    for key in ('macs_total', 'macs_real_input', 'sops_total', 'energy_mJ', 'time_steps', 'layers',
                'assumptions'):
        assert key in saved, key
    assert saved['images'] == 3 and saved['time_steps'] == 1
    assert saved['energy_mJ'] == pytest.approx(report['energy_mJ'])
    assert set(saved['layers'][0]) >= {'name', 'type', 'macs', 'input', 'input_activation', 'energy_mJ'}
    assert saved['energy_mJ'] == pytest.approx(
        (4.6 * saved['macs_real_input'] + 0.9 * saved['sops_total']) * 1e-9)
    assert (tmp_path / 'report.csv').is_file() and (tmp_path / 'report.png').stat().st_size > 0


def test_detector_random_inputs_and_int8_preset(monkeypatch, data_dir):
    torch.manual_seed(0)
    monkeypatch.setenv('COCO_ROOT', str(data_dir / 'coco_mini'))
    report = energy_tool.main([str(MASK_RCNN), '--num-images', '1', '--input-shape', '96', '128',
                               '--preset', 'horowitz45nm_int8'])
    assert report['e_mac_pJ'] == 0.23 and report['images'] == 1
    assert any(row['name'].startswith('rpn_head.') for row in report['layers'])


def test_segmentor_on_dataset_images(tmp_path, data_dir):
    config = tmp_path / 'tiny_seg.py'
    config.write_text(
        f"_base_ = '{SEG_FPN}'\n"
        "model = dict(backbone=dict(arch=dict(_delete_=True, embed_dims=[16, 32, 64, 96]), init_cfg=None),\n"
        "             neck=dict(in_channels=[8, 16, 32, 96], out_channels=32),\n"
        "             decode_head=dict(in_channels=[32] * 4, channels=32))\n"
        "test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(256, 128), keep_ratio=True),\n"
        "                 dict(type='PackSegInputs')]\n"
        f"test_dataloader = dict(dataset=dict(data_root='{data_dir / 'ade20k_mini'}', pipeline=test_pipeline))\n")
    report = energy_tool.main([str(config), '--dataset', '--num-images', '1', '--memory'])
    assert report['images'] == 1
    assert any(row['name'].startswith('decode_head.') for row in report['layers'])
    assert report['memory']['bytes'] > 0


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='config file not found'):
        energy_tool.main([str(tmp_path / 'missing.py')])
    with pytest.raises(FileNotFoundError, match='checkpoint file not found'):
        energy_tool.main([str(CLASSIFIER), str(tmp_path / 'missing.pth')])
    with pytest.raises(SystemExit):
        energy_tool.main([str(CLASSIFIER), '--num-images', '0'])
