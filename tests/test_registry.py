"""One registration serves mmpretrain, mmdet and mmseg: modules build under each toolbox's default scope."""
import importlib

import pytest
from mmengine.registry import DefaultScope, Registry

from spikeformer_mm.ops import MultiStepLIF, SFANeuron

TOOLBOXES = ['mmpretrain', 'mmdet', 'mmseg']


@pytest.mark.parametrize('scope', TOOLBOXES)
@pytest.mark.parametrize('cfg, cls', [(dict(type='spikeformer_mm.MultiStepLIF', v_threshold=0.5), MultiStepLIF),
                                      (dict(type='spikeformer_mm.SFANeuron', D=8), SFANeuron)])
def test_builds_under_each_default_scope(scope, cfg, cls):
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        module = registry.build(dict(cfg))
    assert type(module) is cls


@pytest.mark.parametrize('scope', TOOLBOXES)
def test_unknown_type_fails_under_each_scope(scope):
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope), pytest.raises(KeyError, match='NoSuchModule'):
        registry.build(dict(type='spikeformer_mm.NoSuchModule'))


def test_every_registry_location_imports_and_registers_modules():
    """mmengine imports a registry's ``locations`` on first use: each must exist and fill the registry."""
    module = importlib.import_module('spikeformer_mm.registry')
    registries = {name: value for name, value in vars(module).items()
                  if isinstance(value, Registry) and value.scope == 'spikeformer_mm'}
    assert set(registries) == {'MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS'}
    for name, registry in registries.items():
        assert registry._locations, name
        for location in registry._locations:
            importlib.import_module(location)
        assert len(registry.module_dict) > 0, name
