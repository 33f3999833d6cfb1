"""The E-SpikeFormer Large encoder of the spike-masked autoencoder: sparse conv stages, dense transformer stage."""
from typing import Optional, Tuple, Union

import torch

from spikeformer_mm.ops import compact_spike_storage
from spikeformer_mm.registry import MODELS

from ..backbones.base_spiking_backbone import repeat_frames
from ..backbones.e_spikeformer_large import ESpikeFormerLarge, LargeConvBlock
from ..layers import SpikeConvBN
from .sparse_spiking import run_sparse_unit, visible_at


@MODELS.register_module()
class SparseESpikeFormerLarge(ESpikeFormerLarge):
    """:class:`ESpikeFormerLarge` that runs on the visible patches of a masked image (SparK-style).

    With a patch mask, the image is blanked outside the visible patches, every downsampling layer and conv block
    of the conv stages (strides 2-16, including the last downsampling layer) runs sparsely
    (:mod:`.sparse_spiking`), and the 12 transformer blocks run densely on all tokens, the masked ones entering
    as zeros: the encoder of Spike-Driven-Transformer-V3 ``SDT_V3/Classification/Model_Large/MAE_SDT.py``,
    ``Spikmae``. Without a mask it is the dense :class:`ESpikeFormerLarge`.

    The reference's pre-training blocks have no layer scale (``MS_Block(finetune=False)``). Here they keep
    ``layer_scale1/2`` as buffers fixed at 1: the same maths and the reference's trainable-parameter count, and
    ``state_dict()`` has every key and shape of the fine-tuning :class:`ESpikeFormerLarge` of the same ``arch``,
    so a pre-training checkpoint loads into it strictly (the fine-tuning then starts from the pre-trained
    function, the scales at 1).

    Args:
        arch, T, in_channels, neuron_cfg, drop_path_rate, init_cfg: as :class:`ESpikeFormerLarge`.

    Shapes: ``[B, in_channels, H, W]`` (H, W multiples of 16) and a mask ``[B, H / 16, W / 16]`` (True = visible)
    -> ``([B, C2, H / 16, W / 16],)``, averaged over T.
    """

    def __init__(self, arch: Union[str, dict] = '83M', T: int = 1, in_channels: int = 3,
                 neuron_cfg: Optional[dict] = None, drop_path_rate: float = 0.0,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(arch=arch, T=T, in_channels=in_channels, neuron_cfg=neuron_cfg, out_indices=-1,
                         layer_scale_init_value=1.0, drop_path_rate=drop_path_rate, init_cfg=init_cfg)
        for block in self.stages[-1].blocks:
            for name in ('layer_scale1', 'layer_scale2'):
                scale = getattr(block, name).detach()
                delattr(block, name)
                block.register_buffer(name, scale)

    def forward(self, x: torch.Tensor, visible: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor]:
        """``x [B, C, H, W]``, ``visible [B, H / 16, W / 16]`` bool or None (dense) -> ``([B, C2, h, w],)``."""
        if visible is None:
            return super().forward(x)
        self._check_input(x)
        grid = tuple(s // self.size_divisor for s in x.shape[-2:])
        if visible.dtype != torch.bool or tuple(visible.shape) != (x.shape[0], *grid):
            raise ValueError(f'visible must be a bool patch mask [B, H/{self.size_divisor}, W/{self.size_divisor}] '
                             f'= {[x.shape[0], *grid]} for images {list(x.shape)}, got {visible.dtype} '
                             f'{list(visible.shape)}')
        x = x * visible_at(visible, *x.shape[-2:]).unsqueeze(1).to(x.dtype)
        x = repeat_frames(x.unsqueeze(0), self.T)
        with compact_spike_storage(torch.is_grad_enabled()):
            for stage in self.stages:
                for unit in stage.units:
                    sparse = isinstance(unit, (SpikeConvBN, LargeConvBlock))
                    x = run_sparse_unit(unit, x, visible) if sparse else unit(x)
        return (x.mean(0),)
