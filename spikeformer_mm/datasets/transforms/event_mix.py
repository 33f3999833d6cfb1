"""EventMix: a batch augmentation that mixes event-frame samples through a random spatio-temporal mask.

A config names it by its import path, ``dict(type='spikeformer_mm.datasets.transforms.EventMix')``, in the
classifier's ``train_cfg.augments`` (or the data preprocessor's ``batch_augments``): mmpretrain's
``BATCH_AUGMENTS`` has no scoped children, and the data preprocessor is built before any module of this package
would be imported. It is also registered there as ``'EventMix'`` once this package's datasets are imported.
"""
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.registry import BATCH_AUGMENTS


@BATCH_AUGMENTS.register_module()
class EventMix:
    """Mix each sample with another of the batch through a smooth random 3-D (time x space) mask.

    EventMix (Shen, Zhao and Zeng, arXiv:2205.12054), as the Spike-Driven-Transformer-V3 HARDVS recipe builds it
    (``SDT_V3/DVS/Hardvs/hardvs_dataset1.py``, ``EventMix``; its training loop never applies it). Per batch:

    * ``lam ~ Beta(alpha, alpha)`` is the fraction of the ``T x H x W`` volume kept from the sample itself;
    * the mask ``M`` thresholds Gaussian noise drawn on a coarse ``grid`` (time, height, width cells) and
      interpolated trilinearly to ``T x H x W``, so the kept part is a few connected blobs, not salt and pepper;
    * ``mixed_i = M * x_i + (1 - M) * x_j`` for a random partner ``j`` (the same mask for every sample and both
      polarities);
    * the label weight of ``x_i`` is its share of the mixed events, ``sum(M x_i) / (sum(M x_i) + sum((1-M) x_j))``
      (the reference's ``mode='events'``), and ``lam`` for a sample with no events.

    Args:
        alpha: Beta distribution parameter.
        grid: coarse noise cells ``(t, h, w)``; each is at most the input's size.

    Shapes: ``batch_inputs`` ``[N, T, C, H, W]``, ``batch_scores`` ``[N, num_classes]`` -> the same shapes.
    """

    def __init__(self, alpha: float = 1.0, grid: Sequence[int] = (2, 4, 4)):
        if not alpha > 0:
            raise ValueError(f'EventMix alpha must be > 0, got {alpha!r}')
        if len(grid) != 3 or any(not isinstance(g, int) or g < 1 for g in grid):
            raise ValueError(f'EventMix grid must be 3 positive integers (t, h, w), got {grid!r}')
        self.alpha = float(alpha)
        self.grid = tuple(grid)

    def mask(self, lam: float, size: Tuple[int, int, int], device=None) -> torch.Tensor:
        """A ``[T, H, W]`` 0/1 float mask with ``round(lam * T * H * W)`` ones."""
        grid = tuple(min(g, s) for g, s in zip(self.grid, size))
        noise = torch.randn((1, 1) + grid, device=device)
        field = F.interpolate(noise, size=size, mode='trilinear', align_corners=True).flatten()
        ones = int(round(lam * field.numel()))
        mask = torch.zeros_like(field)
        if ones:
            mask[field.topk(ones).indices] = 1
        return mask.view(size)

    def __call__(self, batch_inputs: torch.Tensor, batch_scores: torch.Tensor):
        if batch_inputs.dim() != 5:
            raise ValueError(f'EventMix expects event frames [N, T, C, H, W], got shape '
                             f'{tuple(batch_inputs.shape)}')
        if batch_scores.dim() != 2 or batch_scores.shape[0] != batch_inputs.shape[0]:
            raise ValueError(f'EventMix expects one-hot scores [N, num_classes] for the {batch_inputs.shape[0]} '
                             f'samples, got shape {tuple(batch_scores.shape)}')
        N, T, _, H, W = batch_inputs.shape
        lam = float(np.random.beta(self.alpha, self.alpha))
        mask = self.mask(lam, (T, H, W), batch_inputs.device).unsqueeze(1).to(batch_inputs.dtype)  # [T, 1, H, W]
        partner = torch.randperm(N, device=batch_inputs.device)
        own, other = batch_inputs * mask, batch_inputs[partner] * (1 - mask)
        own_events, other_events = own.flatten(1).sum(1), other.flatten(1).sum(1)
        total = own_events + other_events
        weight = torch.where(total > 0, own_events / total.clamp_min(1e-12), torch.full_like(total, lam))
        scores = batch_scores.float()
        weight = weight.to(scores.dtype).unsqueeze(1)
        return own + other, weight * scores + (1 - weight) * scores[partner]

    def __repr__(self) -> str:
        return f'{type(self).__name__}(alpha={self.alpha}, grid={self.grid})'
