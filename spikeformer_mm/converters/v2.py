"""Converter family ``'v2'``: BICLab Spike-Driven-Transformer-V2 (Meta-SpikeFormer) checkpoints.

Maps the reference ``state_dict`` names (``classification/models.py``, ``Spiking_vit_MetaFormer``) to an
mmpretrain ``ImageClassifier`` built from
:class:`~spikeformer_mm.models.backbones.MetaSpikeFormer` + ``SpikingGlobalAvgPool`` + ``SpikingLinearClsHead``.
The MLP's Conv1d weights ``[out, in, 1]`` become 1x1 Conv2d weights ``[out, in, 1, 1]``. A distillation head
(``head_kd.*``, from ``--kd`` fine-tuning) is merged into ``head``: the reference evaluates the average of the two
Linear layers on the same spikes, which is one Linear layer with the averaged weight and bias.
"""
import re
from typing import Dict, List, Tuple

import torch

from . import register_family
from .biclab import TARGETS

# Reference top-level module -> (stage, first block index in that stage).
_STAGE_OF = {
    'downsample1_1': 0, 'downsample1_2': 1, 'downsample2': 2, 'downsample3': 3, 'downsample4': 4,
    'ConvBlock1_1': (0, 0), 'ConvBlock1_2': (1, 0), 'ConvBlock2_1': (2, 0), 'ConvBlock2_2': (2, 1),
    'block3': (3, 0), 'block4': (4, 0),
}

# Renames inside one block or downsampling layer: (reference regex, our name). Applied to the key's remainder.
_INNER_RULES: List[Tuple[str, str]] = [
    (r'encode_conv\.', 'conv.'),
    (r'encode_bn\.', 'bn.'),
    (r'Conv\.pwconv1\.', 'sep_conv.pwconv1.conv.'),
    (r'Conv\.bn1\.', 'sep_conv.pwconv1.bn.'),
    (r'Conv\.dwconv\.', 'sep_conv.dwconv.'),
    (r'Conv\.pwconv2\.', 'sep_conv.pwconv2.'),
    (r'Conv\.bn2\.', 'sep_conv.bn.'),
    (r'conv1\.', 'channel_conv.conv1.conv.'),
    (r'bn1\.', 'channel_conv.conv1.bn.'),
    (r'conv2\.', 'channel_conv.conv2.conv.'),
    (r'bn2\.', 'channel_conv.conv2.bn.'),
    (r'attn\.(q|k|v|proj)_conv\.0\.body\.0\.', r'attn.\1.conv.pw_in.'),
    (r'attn\.(q|k|v|proj)_conv\.0\.body\.1\.bn\.', r'attn.\1.conv.bn_pad.bn.'),
    (r'attn\.(q|k|v|proj)_conv\.0\.body\.2\.0\.', r'attn.\1.conv.dw.'),
    (r'attn\.(q|k|v|proj)_conv\.0\.body\.2\.1\.', r'attn.\1.conv.pw_out.'),
    (r'attn\.(q|k|v|proj)_conv\.0\.body\.2\.2\.', r'attn.\1.conv.bn.'),
    (r'attn\.(q|k|v|proj)_conv\.1\.', r'attn.\1.bn.'),
    (r'mlp\.fc([12])_conv\.', r'mlp.fc\1.conv.'),
    (r'mlp\.fc([12])_bn\.', r'mlp.fc\1.bn.'),
]
_PARAM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'


def convert_key(key: str, rules: List[Tuple[str, str]] = _INNER_RULES) -> str:
    """One reference backbone key -> our classifier key (``backbone.stages...``); KeyError if unknown.

    ``rules`` are the renames inside a block (V2's by default; the V3 converters pass their own).
    """
    top, _, rest = key.partition('.')
    where = _STAGE_OF.get(top)
    if where is None:
        raise KeyError(key)
    if isinstance(where, int):
        prefix = f'backbone.stages.{where}.downsample.'
    else:
        index, rest = rest.split('.', 1)
        prefix = f'backbone.stages.{where[0]}.blocks.{where[1] + int(index)}.'
    for pattern, replacement in rules:
        if re.fullmatch(pattern + _PARAM, rest):
            return prefix + re.sub('^' + pattern, replacement, rest)
    raise KeyError(key)


@register_family('v2')
def convert_v2(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Reference Meta-SpikeFormer ``state_dict`` -> classifier ``state_dict`` (``backbone.``/``head.`` keys).

    Raises ``KeyError`` naming every reference key that has no counterpart.
    """
    converted, unknown = {}, []
    for key, value in state_dict.items():
        if key.startswith(('head.', 'head_kd.')):
            continue
        try:
            new_key = convert_key(key)
        except KeyError:
            unknown.append(key)
            continue
        if re.search(r'mlp\.fc[12]\.conv\.weight$', new_key) and value.dim() == 3:
            value = value.unsqueeze(-1)
        converted[new_key] = value
    if unknown:
        raise KeyError(f'{len(unknown)} keys of the V2 checkpoint have no counterpart: {unknown}')
    for name in ('weight', 'bias'):
        if f'head.{name}' in state_dict:
            value = state_dict[f'head.{name}']
            if f'head_kd.{name}' in state_dict:
                value = (value + state_dict[f'head_kd.{name}']) / 2
            converted[f'head.fc.{name}'] = value
    return converted


def classifier_cfg(converted: Dict[str, torch.Tensor], T: int = 1) -> dict:
    """An mmpretrain ``ImageClassifier`` config matching a converted V2 ``state_dict`` (widths, depths, classes).

    The head count cannot be read from the weights; the 8 heads of every released model are assumed.
    """
    def width(stage: int) -> int:
        return converted[f'backbone.stages.{stage}.downsample.conv.weight'].shape[0]

    depths = tuple(1 + max(int(m.group(1)) for k in converted
                           if (m := re.match(rf'backbone\.stages\.{s}\.blocks\.(\d+)\.', k)))
                   for s in range(5))
    embed_dims = [width(s) for s in range(1, 5)]
    cfg = dict(
        type='mmpretrain.ImageClassifier',
        backbone=dict(type='spikeformer_mm.MetaSpikeFormer', arch=dict(embed_dims=embed_dims, depths=depths),
                      T=T, out_indices=-1, keep_time=True),
        neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'))
    if 'head.fc.weight' in converted:
        num_classes, channels = converted['head.fc.weight'].shape
        cfg['head'] = dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=num_classes,
                           in_channels=channels)
    return cfg


TARGETS['v2'] = classifier_cfg
