"""Convert a released BICLab checkpoint into an mmpretrain / mmdet / mmseg checkpoint of this project.

``convert_checkpoint(src, dst, family)`` loads ``src`` (a dict with a ``model`` entry holding the reference
``state_dict``; ``weights_only=True``, with the ``argparse.Namespace`` the released files pickle allowed, see
``spikeformer_mm.engine.checkpoint_loading``), renames it with ``FAMILIES[family]``, checks it strictly against the
target model and writes, atomically:

* by default an mmpretrain checkpoint ``{'state_dict': {'backbone.*', 'neck.*', 'head.*'}, 'meta': {...}}`` that
  ``mmengine.runner.load_checkpoint(classifier, dst, strict=True)`` loads;
* with ``backbone_only=True`` only the backbone weights without the ``backbone.`` prefix, for a dense-task
  backbone's ``init_cfg=dict(type='Pretrained', checkpoint=dst)``.

The target model is built from ``config`` (a config file or dict whose ``model`` is the classifier, or a model
dict) when given; otherwise from the family's own inferred config (``TARGETS[family]``), if it registered one.
Missing or unexpected keys are reported by name and a shape mismatch is an error.
"""
import io
from pathlib import Path
from typing import Callable, Dict, Optional, Union

import torch
from mmengine.config import Config
from torch import nn

from spikeformer_mm.engine.atomic_saving import atomic_write_bytes
from spikeformer_mm.engine.checkpoint_loading import load_checkpoint_file

from . import FAMILIES

# family -> function(converted state_dict) -> classifier model config (optional, for the strict check).
TARGETS: Dict[str, Callable[[dict], dict]] = {}


def load_reference_state_dict(src: Union[str, Path], unsafe: Optional[bool] = None) -> Dict[str, torch.Tensor]:
    """The reference ``state_dict`` of a BICLab checkpoint file (its ``model`` entry, or the dict itself).

    ``unsafe`` as in ``load_checkpoint_file``: full unpickling only on request (``--unsafe-load``)."""
    ckpt = load_checkpoint_file(src, map_location='cpu', unsafe=unsafe)
    if isinstance(ckpt, dict) and isinstance(ckpt.get('model'), dict):
        return ckpt['model']
    if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt
    keys = list(ckpt)[:10] if isinstance(ckpt, dict) else type(ckpt).__name__
    raise ValueError(f"{src}: expected a BICLab checkpoint (a dict with a 'model' state_dict), got {keys}")


def build_target(config: Union[str, Path, dict]) -> nn.Module:
    """A classifier from a config file / dict (its ``model`` entry if it has one), in eval mode."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(config)) if isinstance(config, (str, Path)) else Config(config)
    model_cfg = cfg.get('model', cfg)
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # whatever scope a caller left behind
        return MODELS.build(model_cfg).eval()


def check_state_dict(state_dict: Dict[str, torch.Tensor], model: nn.Module) -> None:
    """Raise ``ValueError`` naming missing and unexpected keys and every shape mismatch against ``model``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}'
                  for k in expected if k in state_dict and state_dict[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f'missing keys ({len(missing)}): {missing}')
    if unexpected:
        problems.append(f'unexpected keys ({len(unexpected)}): {unexpected}')
    if mismatched:
        problems.append(f'shape mismatches ({len(mismatched)}): {mismatched}')
    if problems:
        raise ValueError('converted checkpoint does not match the target model; ' + '; '.join(problems))


def convert_checkpoint(src: Union[str, Path], dst: Union[str, Path], family: str,
                       backbone_only: bool = False, config: Optional[Union[str, Path, dict]] = None,
                       unsafe: Optional[bool] = None) -> dict:
    """Convert ``src`` to ``dst`` (see the module docstring); returns the written checkpoint dict."""
    if family not in FAMILIES:
        raise KeyError(f'unknown converter family {family!r}; registered: {", ".join(sorted(FAMILIES))}')
    state_dict = FAMILIES[family](load_reference_state_dict(src, unsafe))
    if config is None and family in TARGETS:
        config = TARGETS[family](state_dict)
    model = build_target(config) if config is not None else None
    if backbone_only:
        state_dict = {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')}
        model = model.backbone if model is not None else None
    if model is not None:
        check_state_dict(state_dict, model)
    ckpt = dict(state_dict=state_dict,
                meta=dict(source=str(src), converter_family=family, backbone_only=backbone_only))
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    atomic_write_bytes(buffer.getvalue(), dst)
    return ckpt
