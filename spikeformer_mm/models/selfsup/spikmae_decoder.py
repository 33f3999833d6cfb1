"""The light ViT decoder of the spike-masked autoencoder, for any patch grid."""
from typing import Tuple

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_init
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from mmpretrain.models.utils import build_2d_sincos_position_embedding
from torch import nn

from spikeformer_mm.registry import MODELS


def raster_sincos(grid: Tuple[int, int], embed_dims: int) -> torch.Tensor:
    """Fixed 2-D sin-cos positions ``[1, h * w, embed_dims]`` for tokens in raster order (row by row).

    Token ``r * w + c`` gets ``[sin(r ω), cos(r ω), sin(c ω), cos(c ω)]``. mmpretrain's helper flattens its
    ``(h, w)`` grid column by column, so it is called with ``(w, h)``.
    """
    h, w = grid
    return build_2d_sincos_position_embedding((w, h), embed_dims)


@MODELS.register_module()
class SpikMAEDecoder(BaseModule):
    """Decoder of the spike-masked autoencoder: encoder tokens -> per-patch pixels.

    Spike-Driven-Transformer-V3 ``SDT_V3/Classification/Model_Large/MAE_SDT.py``, ``Spikmae``: the encoder's
    output BatchNorm (``norm`` there), ``Linear(in_channels -> embed_dims)``, the mask token at the masked
    positions, fixed 2-D sin-cos positions, ``depth`` pre-norm ViT blocks (no qkv bias, LayerNorm eps 1e-6),
    LayerNorm, ``Linear(embed_dims -> patch_size**2 * out_channels)``.

    The reference gathers its raster-ordered tokens with MAE's unshuffle indices, so each token holds another
    patch's encoding, and appends an empty set of mask tokens; here every token stays at its own patch and the
    masked ones are replaced by the mask token. mmpretrain's ``MAEPretrainDecoder`` does not fit: it expects the
    visible tokens only (plus a class token), a fixed square grid, and qkv biases.

    Args:
        in_channels: encoder width C2.
        embed_dims: decoder width (256 in the reference).
        depth: number of decoder blocks (4).
        num_heads: attention heads (4).
        mlp_ratio: hidden width of the blocks' MLP over ``embed_dims`` (4).
        patch_size: pixels per patch side (16: the encoder's stride).
        out_channels: image channels (3).
        init_cfg: mmengine initialisation config; by default the reference's (truncated normal std 0.02 for the
            linear layers, mask token normal std 0.02).

    Shapes: tokens ``[B, in_channels, h, w]`` and ``mask [B, h * w]`` (1 = masked) -> ``[B, h * w, patch_size**2 *
    out_channels]``.
    """

    def __init__(self, in_channels: int, embed_dims: int = 256, depth: int = 4, num_heads: int = 4,
                 mlp_ratio: float = 4.0, patch_size: int = 16, out_channels: int = 3, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % 4:
            raise ValueError(f'embed_dims must be divisible by 4 for the 2-D sin-cos positions, got {embed_dims}')
        self.patch_size = patch_size
        self.embed_dims = embed_dims
        self.encoder_norm = nn.BatchNorm1d(in_channels)
        self.decoder_embed = nn.Linear(in_channels, embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.decoder_blocks = nn.ModuleList([
            TransformerEncoderLayer(embed_dims, num_heads, int(mlp_ratio * embed_dims), qkv_bias=False,
                                    norm_cfg=dict(type='LN', eps=1e-6)) for _ in range(depth)])
        self.decoder_norm = nn.LayerNorm(embed_dims, eps=1e-6)
        self.decoder_pred = nn.Linear(embed_dims, patch_size ** 2 * out_channels)

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    trunc_normal_init(module, std=0.02, bias=0.0)
            nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, _, h, w = tokens.shape
        x = self.decoder_embed(self.encoder_norm(tokens.flatten(2)).transpose(1, 2))  # [B, L, embed_dims]
        x = torch.where(mask.bool().unsqueeze(-1), self.mask_token.to(x.dtype), x)
        x = x + raster_sincos((h, w), self.embed_dims).to(x)
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))
