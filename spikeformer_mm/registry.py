"""The package's registries: children of mmengine's root registries, scope ``spikeformer_mm``.

Modules registered here build from mmpretrain, mmdet and mmseg configs alike as ``type='spikeformer_mm.X'``:
mmengine resolves the scope prefix through the root registry and imports the ``locations`` on first use, so a
config needs no ``custom_imports``. Inside the package, unscoped names resolve here first.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='spikeformer_mm',
                  locations=['spikeformer_mm.ops', 'spikeformer_mm.models'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='spikeformer_mm',
                    locations=['spikeformer_mm.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='spikeformer_mm',
                      locations=['spikeformer_mm.datasets'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='spikeformer_mm',
                 locations=['spikeformer_mm.engine'])
