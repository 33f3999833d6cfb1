"""``type='spikeformer_mm.ANNTwin'``: train or test the ANN twin of any spiking model config."""
from typing import Optional

from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import nn

from spikeformer_mm.benchmark.ann_twin import ann_twin
from spikeformer_mm.registry import MODELS


@MODELS.register_module(name='ANNTwin')
def build_ann_twin(model: dict, data_preprocessor: Optional[dict] = None) -> nn.Module:
    """Build ``model`` (a classifier, detector or segmentor config) and replace every spiking neuron by its ANN
    activation (``nn.ReLU`` for the LIF and SFA neurons): the same layers, parameters and tensor shapes.

    ``model``'s own ``type`` resolves in the toolbox that builds the twin (the config's default scope), so a
    config turns its spiking model into the twin with
    ``model = dict(_delete_=True, type='spikeformer_mm.ANNTwin', model={{_base_.model}})``.
    The result is the toolbox's own model class, so training, testing and checkpoints work unchanged; a
    checkpoint of the twin loads into the spiking model and back (neurons have no parameters).
    ``data_preprocessor`` is what mmengine's Runner passes from a config's top-level ``data_preprocessor``; it
    goes to ``model`` unless that sets its own.
    """
    if not isinstance(model, dict) or 'type' not in model:
        raise ValueError(f"ANNTwin needs model=dict(type=..., ...), the spiking model's config; got {model!r}")
    if data_preprocessor is not None:
        model = dict(model)
        model.setdefault('data_preprocessor', data_preprocessor)
    return ann_twin(MMENGINE_MODELS.build(model))
