"""Build a model from its config and feed it random images, for the energy and benchmark tools."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint


def random_batch(scope: str, batch_size: int, shape, generator: torch.Generator) -> dict:
    """A data batch as the toolbox's dataloader would give it: uint8 images ``[3, H, W]`` and data samples."""
    H, W = shape
    inputs = [torch.randint(0, 256, (3, H, W), dtype=torch.uint8, generator=generator) for _ in range(batch_size)]
    meta = dict(img_shape=(H, W), ori_shape=(H, W))
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
        samples = [DetDataSample(metainfo=dict(meta, scale_factor=(1.0, 1.0))) for _ in inputs]
    elif scope == 'mmseg':
        from mmseg.structures import SegDataSample
        samples = [SegDataSample(metainfo=dict(meta, pad_shape=(H, W), padding_size=[0, 0, 0, 0]))
                   for _ in inputs]
    elif scope == 'mmpretrain':
        from mmpretrain.structures import DataSample
        samples = [DataSample(metainfo=meta) for _ in inputs]
    else:
        raise ValueError(f"random inputs need a config with default_scope 'mmpretrain', 'mmdet' or 'mmseg', got "
                         f'{scope!r}; pass --dataset to use the config\'s test_dataloader instead')
    return dict(inputs=inputs, data_samples=samples)


def build_model(cfg: Config, checkpoint=None) -> torch.nn.Module:
    """The config's model in eval mode, under the config's default scope, with random weights or ``checkpoint``'s."""
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint file not found: {checkpoint}')
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.eval()
