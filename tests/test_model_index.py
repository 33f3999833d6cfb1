"""model-index.yml and the metafiles: every config listed once, with the right parameter counts and MACs, and the
classifiers found by mmpretrain's model hub (``list_models`` / ``get_model``)."""
import importlib
from pathlib import Path

import mmpretrain
import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.registry import DefaultScope

from spikeformer_mm.energy.counter import SYNAPTIC, synaptic_macs
from spikeformer_mm.model_index import CLASSIFIER_METAFILES, MODEL_INDEX, REPO_ROOT, register_model_index

CONFIG_FOLDERS = sorted(p for p in (REPO_ROOT / 'configs').iterdir() if p.is_dir() and p.name != '_base_')
METAFILES = yaml.safe_load(MODEL_INDEX.read_text())['Import']
MODELS = [model for metafile in METAFILES for model in yaml.safe_load((REPO_ROOT / metafile).read_text())['Models']]
CLASSIFIERS = {model['Name'] for metafile in CLASSIFIER_METAFILES
               for model in yaml.safe_load((REPO_ROOT / metafile).read_text())['Models']}


def test_model_index_imports_one_metafile_per_config_folder():
    assert METAFILES == [f'configs/{folder.name}/metafile.yml' for folder in CONFIG_FOLDERS]
    assert set(CLASSIFIER_METAFILES) < set(METAFILES)
    assert all((folder / 'README.md').is_file() for folder in CONFIG_FOLDERS)


def test_every_config_is_one_model_with_an_existing_config_and_no_remote_weights():
    configs = sorted(str(p.relative_to(REPO_ROOT)) for p in REPO_ROOT.glob('configs/*/*.py')
                     if '_base_' not in p.parts and '-kd_' not in p.name)  # a KD recipe needs a teacher file
    assert sorted(model['Config'] for model in MODELS) == configs
    for model in MODELS:
        assert Path(model['Config']).stem == model['Name']
        assert 'Weights' not in model or (REPO_ROOT / model['Weights']).is_file(), model['Name']
    for metafile in METAFILES:
        content = yaml.safe_load((REPO_ROOT / metafile).read_text())
        collections = {c['Name']: c for c in content['Collections']}
        assert {model['In Collection'] for model in content['Models']} <= collections.keys(), metafile
        for collection in collections.values():
            assert (REPO_ROOT / collection['README']).is_file()
            assert collection['Paper']['URL'].startswith('https://arxiv.org/abs/')


def test_classifier_metafiles_hold_exactly_the_classification_models():
    for model in MODELS:
        tasks = {result['Task'] for result in model.get('Results', [])}
        if model['Name'] in CLASSIFIERS:
            assert tasks <= {'Image Classification'}
        else:
            assert tasks and 'Image Classification' not in tasks, model['Name']
    assert len(CLASSIFIERS) == 30


def test_list_models_finds_the_classifier_configs():
    names = register_model_index()
    assert register_model_index() == names  # a second call registers nothing twice
    assert sorted(names) == sorted(CLASSIFIERS)
    assert sorted(mmpretrain.list_models('*spikeformer*')) == sorted(CLASSIFIERS)
    assert mmpretrain.list_models('e-spikeformer-10m') == ['e-spikeformer-10m_8xb256-lamb-200e_in1k']


def test_get_model_builds_a_config_by_name():
    register_model_index()
    model = mmpretrain.get_model('e-spikeformer-2.7m_8xb256-lamb-200e_in1k')
    assert type(model.backbone).__name__ == 'ESpikeFormer' and model.head.fc.out_features == 1000
    assert sum(p.numel() for p in model.parameters()) == 2_702_048  # the reference's 2.7M model


def example_input(cfg: Config, name: str) -> torch.Tensor:
    """The input the metafile's MACs are counted for: 224x224 images, 32x32 digits and Fashion-MNIST (1 channel),
    128x128 event frames."""
    if 'dvs' in name or 'gesture' in name:
        return torch.empty(1, cfg.model.backbone.T, 2, 128, 128, device='meta')
    if 'fashion-mnist' in name:
        return torch.empty(1, 1, 32, 32, device='meta')
    size = 32 if 'digits' in name else 224
    return torch.empty(1, 3, size, size, device='meta')


@pytest.mark.parametrize('model', MODELS, ids=lambda m: m['Name'])
def test_metafile_parameters_and_macs_are_the_config_s(model):
    """Parameters of the whole model; FLOPs (classifiers) = MACs per input (``spikeformer_mm.energy`` convention)."""
    cfg = Config.fromfile(REPO_ROOT / model['Config'])
    scope = cfg.default_scope
    # Spikeformer computes its drop-path rates with Tensor.tolist(), which PyTorch's meta device cannot run
    spiking_model = cfg.model.model if cfg.model.type == 'spikeformer_mm.ANNTwin' else cfg.model
    device = 'cpu' if spiking_model.backbone.type == 'spikeformer_mm.Spikeformer' else 'meta'
    with DefaultScope.overwrite_default_scope(scope), torch.device(device):
        built = importlib.import_module(f'{scope}.registry').MODELS.build(cfg.model).eval().to('meta')
    assert sum(p.numel() for p in built.parameters()) == model['Metadata']['Parameters']
    if model['Name'] not in CLASSIFIERS:
        return
    macs = []
    hooks = [m.register_forward_hook(lambda mod, args, out: macs.append(synaptic_macs(mod, args, out)))
             for m in built.modules() if isinstance(m, SYNAPTIC)]
    with torch.no_grad():
        built(example_input(cfg, model['Name']), mode='tensor')
    for hook in hooks:
        hook.remove()
    assert sum(macs) == model['Metadata']['FLOPs']
