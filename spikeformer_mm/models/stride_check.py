"""Fail at the first forward pass when a detector or segmentor declares feature strides its spiking backbone lacks.

mmdet's anchor generators and RoI extractors and mmseg's ``FPNHead`` take the stride of each feature level from
the config, never from the features. The spiking backbones' last two stages share stride 16 (``out_strides``
``(4, 8, 16, 16)`` for ``out_indices=(1, 2, 3, 4)``), so a config written for a ResNet (strides 4, 8, 16, 32)
builds, trains and predicts with anchors and RoI pooling misplaced on the coarse levels, and no one complains.

How the check finds the model around a backbone, with nothing but the backbone in the config:

1. a spiking backbone calls :func:`watch_feature_strides` in its ``__init__``;
2. torch's global module-registration hook (installed once, when the first spiking backbone is built) notes the
   module that the backbone is first assigned to: the detector's or segmentor's ``self.backbone = ...``;
3. a forward pre-hook on the backbone runs :func:`check_feature_strides` on that module at the backbone's first
   forward pass, when the neck and heads exist, and removes itself once the check passes.

A failure raises :class:`FeatureStrideError` listing each wrong setting with the value it must have; the check
then runs again at the next forward. Training, testing and inference all pass through the backbone's forward,
whatever tool drives them.
"""
import inspect
import re
import warnings
import weakref
from typing import List, Optional, Sequence

from torch import nn
from torch.nn.modules.module import register_module_module_registration_hook

DOCS = 'docs/architecture.md, "Feature strides in dense models"'
# necks with one output per input, at the input's stride
SAME_STRIDE_NECKS = ('SpikeSegFPN',)


class FeatureStrideError(ValueError):
    """A head or neck declares feature strides (or input widths) that the backbone's features do not have."""


_unadopted = weakref.WeakSet()  # watched backbones not yet assigned to any module
_parents: 'weakref.WeakKeyDictionary[nn.Module, weakref.ref]' = weakref.WeakKeyDictionary()
_pending_checks = weakref.WeakKeyDictionary()  # backbone -> handle of its first-forward check
_registration_hook = None


def _note_parent(module: nn.Module, name: str, submodule: Optional[nn.Module]) -> None:
    """Global module-registration hook: remember the first module a watched backbone is assigned to."""
    if _unadopted and submodule is not None and submodule in _unadopted:
        _unadopted.discard(submodule)
        _parents[submodule] = weakref.ref(module)


def _check_before_first_forward(backbone: nn.Module, args) -> None:
    """Forward pre-hook: check the model that holds ``backbone``; once it passes, never again."""
    _unadopted.discard(backbone)  # used on its own: no parent will come
    parent = _parents.get(backbone)
    parent = parent() if parent is not None else None
    if parent is not None:
        check_feature_strides(parent, backbone)
    handle = _pending_checks.pop(backbone, None)
    if handle is not None:
        handle.remove()


def watch_feature_strides(backbone: nn.Module) -> None:
    """Check, at the first forward pass of ``backbone`` (a module with ``out_strides`` and ``out_channels``), the
    strides declared by the model it is assigned to (see the module docstring)."""
    global _registration_hook
    if _registration_hook is None:
        _registration_hook = register_module_module_registration_hook(_note_parent)
    _unadopted.add(backbone)
    _pending_checks[backbone] = backbone.register_forward_pre_hook(_check_before_first_forward)


def neck_out_strides(neck: nn.Module, strides: Sequence[int]) -> Optional[List[int]]:
    """The strides of ``neck``'s outputs for inputs at ``strides``; None for a neck whose geometry is unknown.

    Known: mmdet's and mmseg's ``FPN`` and subclasses (inputs ``start_level`` to ``backbone_end_level - 1``,
    then ``num_outs`` minus those extra levels, each a stride-2 pool or conv of the level before); mmdet's
    ``ChannelMapper`` (every input, then one stride-2 conv per extra level); ``SpikeSegFPN`` (every input);
    ``nn.Sequential`` of those.
    """
    if isinstance(neck, nn.Sequential):
        out = list(strides)
        for module in neck:
            out = neck_out_strides(module, out)
            if out is None:
                return None
        return out
    if all(hasattr(neck, attr) for attr in ('start_level', 'backbone_end_level', 'num_outs')):
        out = list(strides[neck.start_level:neck.backbone_end_level])
    elif hasattr(neck, 'convs') and hasattr(neck, 'extra_convs'):
        out = list(strides)
        out += [out[-1] * 2 ** i for i in range(1, len(neck.extra_convs or ()) + 1)]
        return out
    elif type(neck).__name__ in SAME_STRIDE_NECKS:
        return list(strides)
    else:
        return None
    return out + [out[-1] * 2 ** i for i in range(1, neck.num_outs - len(out) + 1)]


def _config_name(module_name: str) -> str:
    """``roi_head.bbox_roi_extractor.0`` (one per cascade stage) -> ``model.roi_head.bbox_roi_extractor``."""
    return 'model.' + re.sub(r'\.\d+(?=\.|$)', '', module_name)


def _init_arg(module: nn.Module, candidates: Sequence[str]) -> Optional[str]:
    """The first of ``candidates`` that an ``__init__`` in ``module``'s class hierarchy takes."""
    for cls in type(module).__mro__:
        init = cls.__dict__.get('__init__')
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            continue
        for name in candidates:
            if name in params:
                return name
    return None


def _square(strides) -> list:
    """``[(4, 4), (8, 8)]`` -> ``[4, 8]``; non-square strides stay pairs."""
    return [s[0] if isinstance(s, (tuple, list)) and s[0] == s[1] else s for s in strides]


def _head_problems(name: str, module: nn.Module, levels: List[int]) -> List[str]:
    """What ``module`` (named ``name`` in the model) declares wrongly for feature levels at strides ``levels``."""
    problems = []
    generator = getattr(module, 'prior_generator', None)
    if generator is not None and hasattr(generator, 'strides'):
        declared = _square(generator.strides)
        if declared != levels:
            arg = _init_arg(module, ('anchor_generator', 'prior_generator', 'strides'))
            key = f'{_config_name(name)}.{arg}.strides' if arg in ('anchor_generator', 'prior_generator') \
                else f'{_config_name(name)}.strides'
            keep = ''
            base_sizes = getattr(generator, 'base_sizes', None)
            if base_sizes is not None and list(base_sizes) == declared:  # defaulted to the declared strides
                keep = f' (and base_sizes={declared} to keep the anchor sizes)'
            problems.append(f'{key}={declared} must be {levels}{keep}')
    featmap_strides = getattr(module, 'featmap_strides', None)
    if featmap_strides is not None:  # a RoI extractor: pools from the first len(featmap_strides) levels
        declared = _square(featmap_strides)
        expected = levels[:len(declared)]
        if declared != expected:
            problems.append(f'{_config_name(name)}.featmap_strides={declared} must be {expected}')
    feature_strides = getattr(module, 'feature_strides', None)
    if feature_strides is not None:  # a Semantic-FPN decode head: one stride per selected input
        in_index = getattr(module, 'in_index', list(range(len(feature_strides))))
        in_index = [in_index] if isinstance(in_index, int) else list(in_index)
        if any(not -len(levels) <= i < len(levels) for i in in_index):
            problems.append(f'{_config_name(name)}.in_index={in_index} selects levels that do not exist: there are '
                            f'{len(levels)} (strides {levels})')
        else:
            expected = [levels[i] for i in in_index]
            if list(feature_strides) != expected:
                problems.append(f'{_config_name(name)}.feature_strides={list(feature_strides)} must be {expected}')
    return problems


def check_feature_strides(model: nn.Module, backbone: nn.Module) -> None:
    """Raise :class:`FeatureStrideError` if a part of ``model`` disagrees with the features of its child
    ``backbone`` (which has ``out_strides`` and ``out_channels``).

    Checked: the neck's ``in_channels`` against the backbone's ``out_channels``; every prior generator's
    ``strides`` (RPN, RetinaNet and other anchor heads: one per level) against the strides after the neck; every
    RoI extractor's ``featmap_strides`` against the first levels; every decode head's ``feature_strides``
    (mmseg's ``FPNHead``) against the levels its ``in_index`` selects. Heads that declare no strides (mmseg's
    ``UPerHead``, ``FCNHead``) have nothing to disagree with. Behind a neck of unknown geometry the strides are
    not checked (a warning says so).
    """
    backbone_name = next((name for name, child in model.named_children() if child is backbone), None)
    if backbone_name is None:  # it has been moved elsewhere since
        return
    strides, channels = list(backbone.out_strides), list(backbone.out_channels)
    problems = []
    neck = getattr(model, 'neck', None)
    neck = neck if isinstance(neck, nn.Module) else None
    first_neck = neck[0] if isinstance(neck, nn.Sequential) and len(neck) else neck
    in_channels = getattr(first_neck, 'in_channels', None)
    if isinstance(in_channels, (list, tuple)) and list(in_channels) != channels:
        problems.append(f'model.neck.in_channels={list(in_channels)} must be {channels} (the backbone\'s '
                        'out_channels)')
    levels = strides if neck is None else neck_out_strides(neck, strides)
    skip = {backbone_name, 'neck', 'data_preprocessor'}
    heads = [(name, module) for name, module in model.named_modules() if name and name.split('.')[0] not in skip]
    if levels is None:
        declares = [name for name, module in heads if any(
            hasattr(module, attr) for attr in ('prior_generator', 'featmap_strides', 'feature_strides'))]
        if declares:
            warnings.warn(f'{type(neck).__name__} is a neck of unknown geometry: the strides declared by '
                          f'{", ".join(declares)} are not checked against the backbone\'s out_strides {strides}; '
                          f'see {DOCS}')
    else:
        for name, module in heads:
            problems += _head_problems(name, module, levels)
    if problems:
        where = '' if neck is None else f'; after the neck ({type(neck).__name__}) the feature levels have ' \
                                        f'strides {levels}'
        lines = '\n'.join(f'  - {problem}' for problem in dict.fromkeys(problems))
        raise FeatureStrideError(
            f'{type(model).__name__} declares feature strides or widths that its backbone does not give: '
            f'{type(backbone).__name__}(out_indices={tuple(backbone.out_indices)}) outputs strides {strides} '
            f'and channels {channels}{where}. Set in the config:\n{lines}\n(see {DOCS})')
