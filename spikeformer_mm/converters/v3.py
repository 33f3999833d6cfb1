"""Converter families ``'v3'`` and ``'v3-large'``: BICLab Spike-Driven-Transformer-V3 (E-SpikeFormer) checkpoints.

* ``'v3'``: Model_Base (``SDT_V3/Classification/Model_Base/models.py``,
  ``Efficient_Spiking_Transformer_*``) -> an ``ImageClassifier`` built from
  :class:`~spikeformer_mm.models.backbones.ESpikeFormer` + ``SpikingGlobalAvgPool`` + ``SpikingLinearClsHead``
  with ``SFANeuron(D=4, norm=1)`` (``head.*`` -> ``head.fc.*``).
* ``'v3-large'``: Model_Large (``SDT_V3/Classification/Model_Large/spikformer.py``,
  ``spikformer12_512`` / ``spikformer12_768``) ->
  :class:`~spikeformer_mm.models.backbones.ESpikeFormerLarge` + ``SpikingGlobalAvgPool`` +
  ``SpikingDistillClsHead`` (``head.*`` -> ``head.fc.*``, the real-valued head; ``head_kd.*`` -> ``head.fc_kd.*``,
  the spiking one; a checkpoint without ``head_kd`` maps to the head with ``with_kd=False``).

Conv1d weights ``[out, in, 1]`` (MLP, RepConv) become 1x1 Conv2d weights ``[out, in, 1, 1]``.
"""
import re
from typing import Dict, List, Tuple

import torch

from . import register_family
from .biclab import TARGETS
from .v2 import convert_key  # V3 keeps V2's top-level module names (Large lacks stage 4)

# Renames inside one block or downsampling layer, (reference regex, our name), applied to the key's remainder.
_DOWNSAMPLE_RULES = [(r'encode_conv\.', 'conv.'), (r'encode_bn\.', 'bn.')]
_MLP_RULES = [(r'mlp\.fc([12])_conv\.', r'mlp.fc\1.conv.'), (r'mlp\.fc([12])_bn\.', r'mlp.fc\1.bn.')]
_BASE_RULES: List[Tuple[str, str]] = _DOWNSAMPLE_RULES + _MLP_RULES + [
    (r'(?:Conv|conv)\.(pwconv1|dwconv|pwconv2)\.0\.', r'sep_conv.\1.conv.'),
    (r'(?:Conv|conv)\.(pwconv1|dwconv|pwconv2)\.1\.', r'sep_conv.\1.bn.'),
    (r'conv([12])\.', r'channel_conv.conv\1.conv.'),
    (r'bn([12])\.', r'channel_conv.conv\1.bn.'),
    (r'attn\.(q|k|v|proj)_conv\.0\.', r'attn.\1_conv.conv.'),
    (r'attn\.(q|k|v|proj)_conv\.1\.', r'attn.\1_conv.bn.'),
]
_LARGE_RULES: List[Tuple[str, str]] = _DOWNSAMPLE_RULES + _MLP_RULES + [
    (r'conv([12])\.0\.0\.', r'channel_conv.conv\1.conv.'),
    (r'conv([12])\.0\.1\.', r'channel_conv.conv\1.bn.'),
    (r'rep_conv\.conv([12])\.0\.', r'rep_conv.conv\1.conv.'),
    (r'rep_conv\.conv([12])\.1\.', r'rep_conv.conv\1.bn.'),
    (r'attn\.(q|k|v|proj)_conv\.0\.conv([12])\.0\.', r'attn.\1_conv.conv\2.conv.'),
    (r'attn\.(q|k|v|proj)_conv\.0\.conv([12])\.1\.', r'attn.\1_conv.conv\2.bn.'),
    (r'attn\.(q|k|v|proj)_conv\.1\.', r'attn.\1_bn.'),
]


_LAYER_SCALE = re.compile(r'block3\.(\d+)\.(layer_scale[12])')


def convert_key_v3(key: str, rules: List[Tuple[str, str]]) -> str:
    """One reference backbone key -> our classifier key; ``KeyError`` if unknown. Adds Large's layer scales."""
    layer_scale = _LAYER_SCALE.fullmatch(key)
    if layer_scale:
        return f'backbone.stages.3.blocks.{layer_scale[1]}.{layer_scale[2]}'
    return convert_key(key, rules)


def _convert_backbone(state_dict: Dict[str, torch.Tensor], rules: List[Tuple[str, str]],
                      family: str) -> Dict[str, torch.Tensor]:
    converted, unknown = {}, []
    for key, value in state_dict.items():
        if key.startswith(('head.', 'head_kd.')):
            continue
        try:
            new_key = convert_key_v3(key, rules)
        except KeyError:
            unknown.append(key)
            continue
        converted[new_key] = value.unsqueeze(-1) if value.dim() == 3 else value
    if unknown:
        raise KeyError(f'{len(unknown)} keys of the {family} checkpoint have no counterpart: {unknown}')
    return converted


def _copy_head(state_dict: Dict[str, torch.Tensor], converted: Dict[str, torch.Tensor], src: str, dst: str):
    for name in ('weight', 'bias'):
        if f'{src}.{name}' in state_dict:
            converted[f'{dst}.{name}'] = state_dict[f'{src}.{name}']


@register_family('v3')
def convert_v3(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Reference Model_Base ``state_dict`` -> classifier ``state_dict``; ``KeyError`` names unknown keys."""
    converted = _convert_backbone(state_dict, _BASE_RULES, 'V3 Model_Base')
    _copy_head(state_dict, converted, 'head', 'head.fc')
    return converted


@register_family('v3-large')
def convert_v3_large(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Reference Model_Large ``state_dict`` -> classifier ``state_dict``; ``KeyError`` names unknown keys."""
    converted = _convert_backbone(state_dict, _LARGE_RULES, 'V3 Model_Large')
    _copy_head(state_dict, converted, 'head', 'head.fc')
    _copy_head(state_dict, converted, 'head_kd', 'head.fc_kd')
    return converted


def _embed_dims(converted: Dict[str, torch.Tensor], num_stages: int) -> List[int]:
    return [converted[f'backbone.stages.{s}.downsample.conv.weight'].shape[0] for s in range(1, num_stages)]


def _depths(converted: Dict[str, torch.Tensor], num_stages: int) -> Tuple[int, ...]:
    return tuple(1 + max(int(m.group(1)) for k in converted
                         if (m := re.match(rf'backbone\.stages\.{s}\.blocks\.(\d+)\.', k)))
                 for s in range(num_stages))


def classifier_cfg_v3(converted: Dict[str, torch.Tensor]) -> dict:
    """An ``ImageClassifier`` config matching a converted Model_Base ``state_dict`` (8 heads assumed)."""
    arch = dict(embed_dims=_embed_dims(converted, 5), depths=_depths(converted, 5))
    cfg = dict(type='mmpretrain.ImageClassifier',
               backbone=dict(type='spikeformer_mm.ESpikeFormer', arch=arch, keep_time=True),
               neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'))
    if 'head.fc.weight' in converted:
        num_classes, channels = converted['head.fc.weight'].shape
        cfg['head'] = dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=num_classes,
                           in_channels=channels, neuron_cfg=dict(type='SFANeuron', D=4, norm=1))
    return cfg


def classifier_cfg_v3_large(converted: Dict[str, torch.Tensor]) -> dict:
    """An ``ImageClassifier`` config matching a converted Model_Large ``state_dict`` (8 heads assumed)."""
    rep_conv = any('.rep_conv.' in k for k in converted)
    arch = dict(embed_dims=_embed_dims(converted, 4), depths=_depths(converted, 4), rep_conv=rep_conv)
    cfg = dict(type='mmpretrain.ImageClassifier',
               backbone=dict(type='spikeformer_mm.ESpikeFormerLarge', arch=arch, keep_time=True),
               neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'))
    if 'head.fc.weight' in converted:
        num_classes, channels = converted['head.fc.weight'].shape
        cfg['head'] = dict(type='spikeformer_mm.SpikingDistillClsHead', num_classes=num_classes,
                           in_channels=channels, with_kd='head.fc_kd.weight' in converted)
    return cfg


TARGETS['v3'] = classifier_cfg_v3
TARGETS['v3-large'] = classifier_cfg_v3_large
