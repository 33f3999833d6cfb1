"""Make the classifier configs known to mmpretrain's model hub (``list_models`` / ``get_model``).

mmpretrain 1.2.0 reads only its own ``model-index.yml`` and offers ``ModelHub.register_model_index`` for others.
:func:`register_model_index` hands it this repository's classifier metafiles, after which
``mmpretrain.list_models('*spikeformer*')`` lists the configs by name and ``mmpretrain.get_model(name)`` builds one.
It is not called on ``import spikeformer_mm``: that would import mmpretrain for mmdet and mmseg users too.

The repository's ``model-index.yml`` also lists the detection and segmentation metafiles (for ``mim``); those stay
out of mmpretrain's hub, which can only build classifiers.
"""
from pathlib import Path
from typing import List

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_INDEX = REPO_ROOT / 'model-index.yml'
CLASSIFIER_METAFILES = ('configs/meta_spikeformer/metafile.yml', 'configs/e_spikeformer/metafile.yml',
                        'configs/spikeformer/metafile.yml')


def register_model_index() -> List[str]:
    """Register the classifier configs with ``mmpretrain.apis.ModelHub``; calling it again changes nothing.

    Returns:
        The registered model names (config file names without ``.py``), as ``mmpretrain.list_models`` gives them.
    """
    from mmpretrain.apis import ModelHub
    from modelindex.load_model_index import load

    names = []
    for metafile in CLASSIFIER_METAFILES:
        path = REPO_ROOT / metafile
        if not path.is_file():
            raise FileNotFoundError(f'{path} not found: the configs and their metafiles are not installed with the '
                                    'package; install spikeformer_mm from its source tree (pip install -e .)')
        models = [model.name.lower() for model in load(str(path)).models]
        if not all(ModelHub.has(name) for name in models):
            ModelHub.register_model_index(path, config_prefix=REPO_ROOT)
        names += models
    return names
