"""Build a model from its config, for the energy and benchmark tools."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint


def build_model(cfg: Config, checkpoint=None) -> torch.nn.Module:
    """The config's model in eval mode, under the config's default scope, with random weights or ``checkpoint``'s."""
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint file not found: {checkpoint}')
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.eval()
