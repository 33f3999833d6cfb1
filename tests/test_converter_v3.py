"""Converter families 'v3' and 'v3-large': reference E-SpikeFormer checkpoints -> this project's classifiers."""
import argparse
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.runner import load_checkpoint

import spikeformer_mm.converters.v3  # noqa: F401  (registers 'v3' and 'v3-large')
from spikeformer_mm.converters import FAMILIES
from spikeformer_mm.converters.biclab import TARGETS, build_target, check_state_dict
from spikeformer_mm.registry import MODELS

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs' / 'e_spikeformer'


def convert_cli(argv):
    """``main(argv)`` of tools/model_converters/biclab_to_mm.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location('biclab_to_mm', ROOT / 'tools/model_converters/biclab_to_mm.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def read_key_list(path: Path) -> dict:
    """``key<TAB>(shape)`` lines -> a state_dict of empty tensors with those shapes."""
    state_dict = {}
    for line in path.read_text().splitlines():
        key, shape = line.split('\t')
        dims = tuple(int(d) for d in shape.strip('()').split(',') if d.strip())
        state_dict[key] = torch.empty(dims)
    return state_dict


@pytest.fixture(scope='module')
def reference(reference_dir):
    return torch.load(reference_dir / 'v3_base_reference_outputs.pt', weights_only=True)


@pytest.fixture(scope='module')
def converted(tmp_path_factory, reference):
    """The reference fixture saved as a BICLab checkpoint and converted with the CLI, classifier and backbone-only."""
    folder = tmp_path_factory.mktemp('v3')
    src = folder / 'reference.pth'
    torch.save(dict(model=reference['state_dict'], epoch=0, args=argparse.Namespace(model='tiny')), src)
    convert_cli([str(src), str(folder / 'classifier.pth'), '--family', 'v3'])
    convert_cli([str(src), str(folder / 'backbone.pth'), '--family', 'v3', '--backbone-only'])
    return folder


def test_reference_logits_through_the_cli(converted, reference):
    state_dict = FAMILIES['v3'](reference['state_dict'])
    model = build_target(TARGETS['v3'](state_dict))
    load_checkpoint(model, str(converted / 'classifier.pth'), map_location='cpu', strict=True)
    with torch.no_grad():
        logits = model(reference['input'])
    torch.testing.assert_close(logits, reference['logits'], rtol=0, atol=1e-4)


def test_backbone_only_checkpoint_initialises_a_dense_task_backbone(converted, reference):
    config = reference['config']
    backbone = MODELS.build(dict(
        type='ESpikeFormer', arch=dict(embed_dims=config['embed_dims']), out_indices=(1, 2, 3, 4),
        init_cfg=dict(type='Pretrained', checkpoint=str(converted / 'backbone.pth'))))
    backbone.init_weights()
    expected = FAMILIES['v3'](reference['state_dict'])
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, expected[f'backbone.{key}'], rtol=0, atol=0)


@pytest.mark.parametrize('key_list, family, config', [
    ('v3_19M_keys.txt', 'v3', 'e-spikeformer-19m_8xb256-lamb-200e_in1k.py'),
    ('v3_spikformer12_512_keys.txt', 'v3-large', 'e-spikeformer-large-83m_8xb196-lamb-100e_in1k.py'),
    ('v3_spikformer12_768_keys.txt', 'v3-large', 'e-spikeformer-large-171m_8xb128-lamb-150e_in1k.py'),
])
def test_released_architectures_load_strictly_into_the_configs(reference_dir, key_list, family, config):
    reference_keys = read_key_list(reference_dir / key_list)
    state_dict = FAMILIES[family](reference_keys)
    assert len(state_dict) == len(reference_keys)
    with torch.device('meta'):
        from_config = build_target(CONFIGS / config)
        inferred = build_target(TARGETS[family](state_dict))
    check_state_dict(state_dict, from_config)
    check_state_dict(state_dict, inferred)


def test_wrong_variant_is_a_shape_error(reference_dir):
    state_dict = FAMILIES['v3'](read_key_list(reference_dir / 'v3_19M_keys.txt'))
    with torch.device('meta'):
        model = build_target(CONFIGS / 'e-spikeformer-10m_8xb256-lamb-200e_in1k.py')
    with pytest.raises(ValueError, match=r'shape mismatches .*backbone\.stages\.0\.downsample\.conv\.weight'):
        check_state_dict(state_dict, model)


@pytest.mark.parametrize('family', ['v3', 'v3-large'])
def test_unknown_reference_keys_are_named(reference, family):
    state_dict = dict(reference['state_dict'])
    state_dict['block3.0.attn.talking_heads.weight'] = torch.zeros(1)
    with pytest.raises(KeyError, match='talking_heads'):
        FAMILIES[family](state_dict)
