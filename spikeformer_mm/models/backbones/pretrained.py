"""Pre-trained weights of a spiking backbone: mmseg's ``pretrained`` argument and a missing checkpoint file."""
import os.path as osp
import warnings
from typing import Optional, Union

from mmengine.model import BaseModule

from spikeformer_mm.engine.checkpoint_sources import how_to_make, is_local_path

# checkpoint schemes of mmengine's model zoos: they hold ResNets and other non-spiking models
MODEL_ZOO_SCHEMES = ('open-mmlab://', 'openmmlab://', 'torchvision://', 'modelzoo://', 'mmcls://')


def init_cfg_with_pretrained(name: str, pretrained: Optional[str],
                             init_cfg: Optional[Union[dict, list]]) -> Optional[Union[dict, list]]:
    """The ``init_cfg`` of backbone ``name`` given mmseg's ``pretrained`` (``model.pretrained`` of a segmentor).

    mmseg's ``EncoderDecoder`` hands its ``pretrained`` to the backbone. As mmseg's own backbones do, a checkpoint
    path becomes ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)`` with a deprecation warning. A
    model-zoo name (mmseg's base configs say ``'open-mmlab://resnet50_v1c'``) is a ResNet, not weights of this
    backbone: that is an error telling to set ``model.pretrained=None``.
    """
    if pretrained is None:
        return init_cfg
    if not isinstance(pretrained, str):
        raise TypeError(f'{name}: pretrained must be a checkpoint path or None, got {pretrained!r}')
    if pretrained.startswith(MODEL_ZOO_SCHEMES):
        raise ValueError(
            f"{name} got pretrained={pretrained!r}: the segmentor's model.pretrained, which the stock mmseg base "
            'configs set to the ResNet they were written for. Set model.pretrained=None in your config; to load '
            "spiking weights use model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH).")
    if init_cfg is not None:
        raise ValueError(f'{name}: give pre-trained weights either as pretrained={pretrained!r} or as '
                         f'init_cfg={init_cfg!r}, not both')
    warnings.warn(f'DeprecationWarning: {name}: pretrained is deprecated, use '
                  f"init_cfg=dict(type='Pretrained', checkpoint={pretrained!r}) instead")
    return dict(type='Pretrained', checkpoint=pretrained)


def check_pretrained_files(backbone: BaseModule, converter_family: Optional[str] = None) -> None:
    """Raise ``FileNotFoundError`` if an ``init_cfg`` of type ``Pretrained`` names a local file that is missing.

    The message says how to make the file (:func:`~spikeformer_mm.engine.checkpoint_sources.how_to_make`: the
    converter command for ``converter_family``, or the config that writes it) and how to train without it.
    """
    init_cfgs = backbone.init_cfg if isinstance(backbone.init_cfg, list) else [backbone.init_cfg]
    for cfg in init_cfgs:
        if not isinstance(cfg, dict) or cfg.get('type') != 'Pretrained':
            continue
        checkpoint = cfg.get('checkpoint')
        if isinstance(checkpoint, str) and is_local_path(checkpoint) and not osp.isfile(osp.expanduser(checkpoint)):
            raise FileNotFoundError(
                f'{type(backbone).__name__}: the checkpoint of its init_cfg, {checkpoint}, does not exist: '
                f'{how_to_make(checkpoint, converter_family)}; or pass another file (--cfg-options '
                'model.backbone.init_cfg.checkpoint=PATH). To train without pre-trained backbone weights, set '
                'model.backbone.init_cfg=None (--cfg-options model.backbone.init_cfg=None).')
