"""Spike-masked autoencoder pre-training (E-SpikeFormer, arXiv 2411.16061) on mmpretrain's self-supervisor."""
from typing import Dict, List, Optional, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import nn

from spikeformer_mm.registry import MODELS


@MODELS.register_module()
class SpikMAE(BaseSelfSupervisor):
    """Spike-masked autoencoder: hide a random ``mask_ratio`` of the patches, reconstruct their pixels.

    Spike-Driven-Transformer-V3 ``SDT_V3/Classification/Model_Large/MAE_SDT.py``, ``Spikmae``. Per image,
    ``int(L * (1 - mask_ratio))`` of its ``L`` patches (of the backbone's stride) stay visible; the backbone
    (:class:`SparseESpikeFormerLarge`) encodes the visible ones, the neck (:class:`SpikMAEDecoder`) predicts every
    patch's pixels, and the head (:class:`SpikMAEPretrainHead`) scores the masked ones. The mask is drawn per call
    and handed down as an argument, so any number of models run in one process; any H x W that is a multiple of
    the patch size works.

    Args:
        backbone, neck, head: the three parts (configs or modules).
        mask_ratio: fraction of the patches hidden from the encoder, in (0, 1); the reference pre-trains with 0.5.
        data_preprocessor: default ``SelfSupDataPreprocessor``.
        init_cfg: mmengine initialisation config.

    ``loss(inputs [B, C, H, W], data_samples)`` -> ``dict(loss=...)``; ``extract_feat`` (``mode='tensor'``) runs the
    dense backbone.
    """

    def __init__(self, backbone: Union[dict, nn.Module], neck: Union[dict, nn.Module],
                 head: Union[dict, nn.Module], mask_ratio: float = 0.5,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None, init_cfg: Optional[dict] = None):
        if not (isinstance(mask_ratio, (int, float)) and 0 < mask_ratio < 1):
            raise ValueError(f'mask_ratio is the fraction of patches hidden from the encoder and must be in (0, 1), '
                             f'got {mask_ratio!r}; the reference pre-trains with 0.5')
        super().__init__(backbone=backbone, neck=neck, head=head, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.mask_ratio = float(mask_ratio)
        self.patch_size = self.backbone.size_divisor
        sizes = {'backbone stride': self.patch_size, 'neck.patch_size': self.neck.patch_size,
                 'head.patch_size': self.head.patch_size}
        if len(set(sizes.values())) != 1:
            raise ValueError(f'the patch size must be the backbone stride in neck and head alike, got {sizes}')

    def random_mask(self, batch_size: int, grid: tuple, device: Union[torch.device, str] = 'cpu') -> torch.Tensor:
        """A random mask ``[batch_size, h * w]`` over a patch grid ``(h, w)``: 1 = masked, 0 = visible.

        Each row masks ``L - int(L * (1 - mask_ratio))`` of its ``L = h * w`` patches, uniformly at random.
        """
        num_patches = grid[0] * grid[1]
        num_visible = int(num_patches * (1 - self.mask_ratio))
        if not 0 < num_visible < num_patches:
            raise ValueError(f'mask_ratio {self.mask_ratio} keeps {num_visible} of the {num_patches} patches of a '
                             f'{grid[0]}x{grid[1]} grid; a larger input or another ratio must leave at least one '
                             'patch visible and one masked')
        order = torch.rand(batch_size, num_patches, device=device).argsort(dim=1)
        mask = torch.ones(batch_size, num_patches, device=device)
        return mask.scatter_(1, order[:, :num_visible], 0.0)

    def loss(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        """``inputs [B, C, H, W]`` (H, W multiples of the patch size) -> ``dict(loss=...)``."""
        if inputs.dim() != 4 or inputs.shape[-2] % self.patch_size or inputs.shape[-1] % self.patch_size:
            raise ValueError(f'{type(self).__name__} needs images [B, C, H, W] with H and W multiples of the patch '
                             f'size {self.patch_size}, got {list(inputs.shape)}; crop or resize to a multiple '
                             f'(e.g. RandomResizedCrop scale=224)')
        grid = (inputs.shape[-2] // self.patch_size, inputs.shape[-1] // self.patch_size)
        mask = self.random_mask(inputs.shape[0], grid, inputs.device)
        (tokens,) = self.backbone(inputs, mask.view(-1, *grid) == 0)
        pred = self.neck(tokens, mask)
        return dict(loss=self.head.loss(pred, inputs, mask))
