"""The BICLab V2 (Meta-SpikeFormer) checkpoint converter: key coverage, strict loading, reference logits."""
import argparse
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

from spikeformer_mm.converters.biclab import build_target, check_state_dict, convert_checkpoint
from spikeformer_mm.converters.v2 import classifier_cfg, convert_v2
from spikeformer_mm.models.backbones import MetaSpikeFormer

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs' / 'meta_spikeformer'


@pytest.fixture(scope='module')
def reference(reference_dir):
    return torch.load(reference_dir / 'v2_reference_outputs.pt', weights_only=True)


@pytest.fixture
def released_file(reference, tmp_path):
    """The reference weights saved the way BICLab's training script saves them (pickled args included)."""
    path = tmp_path / 'checkpoint-299.pth'
    torch.save(dict(model=reference['state_dict'], epoch=299, args=argparse.Namespace(model='tiny')), path)
    return path


def cli():
    spec = importlib.util.spec_from_file_location('biclab_to_mm', REPO / 'tools/model_converters/biclab_to_mm.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_key_of_the_released_55m_checkpoint_loads_strictly(reference_dir):
    lines = (reference_dir / 'v2_55M_keys.txt').read_text().splitlines()
    shapes = {key: eval(shape) for key, shape in (line.split('\t') for line in lines)}
    assert len(shapes) == 825
    released = {key: torch.empty(shape, device='meta') for key, shape in shapes.items()}
    converted = convert_v2(released)
    assert len(converted) == 825
    cfg = Config.fromfile(CONFIGS / 'meta-spikeformer-55m_8xb128-lamb-200e_in1k.py')
    with torch.device('meta'):
        model = MMPRETRAIN_MODELS.build(cfg.model)
    check_state_dict(converted, model)
    model.load_state_dict(converted, strict=True)
    assert converted['backbone.stages.3.blocks.5.mlp.fc1.conv.weight'].shape == (2048, 512, 1, 1)


@pytest.mark.parametrize('T', [1, 4])
def test_converted_reference_reproduces_its_logits(reference, released_file, tmp_path, T):
    dst = tmp_path / 'converted.pth'
    cli().main([str(released_file), str(dst), '--family', 'v2'])
    torch.manual_seed(0)
    model = MMPRETRAIN_MODELS.build(classifier_cfg(convert_v2(reference['state_dict']), T=T)).eval()
    load_checkpoint(model, str(dst), strict=True)
    with torch.no_grad():
        logits = model(reference['input'], mode='tensor')
    torch.testing.assert_close(logits, reference[f'logits_T{T}'], atol=1e-4, rtol=0)


def test_classifier_from_a_config_loads_the_mmpretrain_checkpoint(released_file, tmp_path):
    config = CONFIGS / 'meta-spikeformer-tiny_digits.py'  # same widths and 10 classes as the reference model
    ckpt = convert_checkpoint(released_file, tmp_path / 'cls.pth', 'v2', config=config)
    assert {k.split('.')[0] for k in ckpt['state_dict']} == {'backbone', 'head'}
    assert ckpt['meta']['converter_family'] == 'v2'
    model = build_target(config)
    load_checkpoint(model, str(tmp_path / 'cls.pth'), strict=True)


def test_backbone_only_checkpoint_initialises_a_dense_task_backbone(reference, released_file, tmp_path):
    dst = tmp_path / 'backbone.pth'
    cli().main([str(released_file), str(dst), '--family', 'v2', '--backbone-only'])
    backbone = MetaSpikeFormer(dict(embed_dims=[16, 32, 64, 96]), out_indices=(1, 2, 3, 4),
                               init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    backbone.init_weights()
    torch.testing.assert_close(backbone.stages[3].blocks[2].attn.k.conv.dw.weight,
                               reference['state_dict']['block3.2.attn.k_conv.0.body.2.0.weight'])
    assert set(torch.load(dst, weights_only=True)['state_dict']) == set(backbone.state_dict())


def test_distillation_head_is_merged_into_the_head(reference):
    state_dict = dict(reference['state_dict'])
    state_dict['head_kd.weight'] = state_dict['head.weight'] * 3
    state_dict['head_kd.bias'] = state_dict['head.bias'] + 1
    converted = convert_v2(state_dict)
    torch.testing.assert_close(converted['head.fc.weight'], state_dict['head.weight'] * 2)
    torch.testing.assert_close(converted['head.fc.bias'], state_dict['head.bias'] + 0.5)
    assert not any(k.startswith('head_kd') for k in converted)


def test_mismatches_are_reported_by_name(reference, released_file, tmp_path):
    state_dict = dict(reference['state_dict'], **{'block3.0.attn.talking_heads.weight': torch.zeros(1)})
    with pytest.raises(KeyError, match=r"have no counterpart: \['block3.0.attn.talking_heads.weight'\]"):
        convert_v2(state_dict)
    converted = convert_v2(reference['state_dict'])
    model = MMPRETRAIN_MODELS.build(classifier_cfg(converted))
    del converted['backbone.stages.4.blocks.1.attn.v.bn.running_var']
    with pytest.raises(ValueError, match=r"missing keys \(1\): \['backbone.stages.4.blocks.1.attn.v.bn.running_var'"):
        check_state_dict(converted, model)
    wider = CONFIGS / 'meta-spikeformer-15m_8xb128-lamb-200e_in1k.py'
    with pytest.raises(ValueError, match=r'shape mismatches .*backbone.stages.0.downsample.conv.weight: '
                                         r'checkpoint \(8, 3, 7, 7\) vs model \(32, 3, 7, 7\)'):
        convert_checkpoint(released_file, tmp_path / 'x.pth', 'v2', config=wider)
    assert not (tmp_path / 'x.pth').exists()


def test_bad_sources_and_families_get_clear_errors(released_file, tmp_path):
    not_a_checkpoint = tmp_path / 'list.pth'
    torch.save([1, 2], not_a_checkpoint)
    with pytest.raises(ValueError, match="expected a BICLab checkpoint"):
        convert_checkpoint(not_a_checkpoint, tmp_path / 'x.pth', 'v2')
    with pytest.raises(KeyError, match="unknown converter family 'v9'; registered: .*v2"):
        convert_checkpoint(released_file, tmp_path / 'x.pth', 'v9')
