"""Refuse a checkpoint that leaves weights of the model it is loaded into missing.

mmengine loads weights non-strictly for ``tools/test.py`` (``Runner.load_checkpoint``) and for the toolboxes'
``init_model`` / inferencers (``mmengine.runner.load_checkpoint``): a checkpoint of another model, or none of whose
keys match, only logs a warning, and the metrics that follow are those of random weights. Both paths load through
``mmengine.runner.checkpoint.load_state_dict``; inside :func:`complete_weights_required` that call raises
:class:`MissingWeightsError` if any weight of the model (parameters and buffers, except BatchNorm's
``num_batches_tracked``) is missing from the checkpoint or has another shape there. Extra checkpoint keys are fine.
"""
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional

from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import checkpoint as mmengine_checkpoint

SHOWN = 20  # names listed in the message; the count is always complete


class MissingWeightsError(RuntimeError):
    """A checkpoint leaves weights of the model missing (absent keys or other shapes)."""


def _listed(names: List[str]) -> str:
    more = f', ... ({len(names) - SHOWN} more)' if len(names) > SHOWN else ''
    return ', '.join(names[:SHOWN]) + more


@contextmanager
def complete_weights_required(source: Callable[[], Optional[str]] = lambda: None) -> Iterator[None]:
    """Inside the context mmengine's ``load_state_dict`` raises :class:`MissingWeightsError` naming every weight
    the loaded state dict leaves missing or mismatched; ``source()`` names the checkpoint file in the message."""
    original = mmengine_checkpoint.load_state_dict

    def load_state_dict_completely(module, state_dict, strict=False, logger=None):
        # mmengine loads into the wrapped model (DDP, TTA); its load hooks report the keys really left missing
        target = module.module if is_model_wrapper(module) or isinstance(module, BaseTTAModel) else module
        reported = []
        handle = target.register_load_state_dict_post_hook(
            lambda _, incompatible: reported.append(list(incompatible.missing_keys)))
        try:
            original(module, state_dict, strict, logger)
        finally:
            handle.remove()
        missing = [key for key in (reported[-1] if reported else []) if not key.endswith('num_batches_tracked')]
        expected = target.state_dict()
        mismatched = [f'{key}: checkpoint {tuple(value.shape)} vs model {tuple(expected[key].shape)}'
                      for key, value in state_dict.items()
                      if key in expected and hasattr(value, 'shape') and value.shape != expected[key].shape]
        if missing or mismatched:
            counted = [key for key in expected if not key.endswith('num_batches_tracked')]
            problems = []
            if missing:
                problems.append(f'{len(missing)} of the model\'s {len(counted)} weights are missing: '
                                f'{_listed(missing)}')
            if mismatched:
                problems.append(f'{len(mismatched)} have another shape: {_listed(mismatched)}')
            raise MissingWeightsError(
                f'{source() or "the checkpoint"} does not hold the model\'s weights ({"; ".join(problems)}). Is it '
                'a checkpoint of this config\'s model? tools/test.py --allow-missing-weights evaluates anyway (the '
                'missing weights keep their random initialisation).')

    mmengine_checkpoint.load_state_dict = load_state_dict_completely
    try:
        yield
    finally:
        mmengine_checkpoint.load_state_dict = original
