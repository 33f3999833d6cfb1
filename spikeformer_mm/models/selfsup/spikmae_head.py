"""The reconstruction head of the spike-masked autoencoder: mmpretrain's MAE head for any H x W."""
import torch
from mmpretrain.models.heads import MAEPretrainHead

from spikeformer_mm.registry import MODELS


@MODELS.register_module()
class SpikMAEPretrainHead(MAEPretrainHead):
    """:class:`mmpretrain.models.heads.MAEPretrainHead` whose patches tile any ``H x W`` multiple of the patch size.

    The stock head only splits square images. With ``norm_pix=True`` and an L2
    ``PixelReconstructionLoss`` it is the reference's loss (Spike-Driven-Transformer-V3
    ``SDT_V3/Classification/Model_Large/MAE_SDT.py``, ``Spikmae.forward_loss``): each target patch normalised by
    its mean and ``sqrt(unbiased var + 1e-6)``, the squared error averaged over a patch's pixels, then over the
    masked patches only.
    """

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, (H / p) * (W / p), p * p * C]``, patches in raster order, pixels (row, col, C)."""
        B, C, H, W = imgs.shape
        p = self.patch_size
        if H % p or W % p or C != self.in_channels:
            raise ValueError(f'{type(self).__name__} needs [B, {self.in_channels}, H, W] images with H and W '
                             f'multiples of the patch size {p}, got {list(imgs.shape)}')
        x = imgs.reshape(B, C, H // p, p, W // p, p)
        return torch.einsum('nchpwq->nhwpqc', x).reshape(B, (H // p) * (W // p), p * p * C)
