"""BatchNorm folded into the preceding conv for inference (mmcv's ``fuse_conv_bn``, which ``tools/benchmark.py
--fuse-conv-bn`` applies as mmdet's benchmark does): every spiking backbone gives the same outputs after it.

The fusion walks each module's children in registration order and folds a BatchNorm into the ``nn.Conv2d``
registered before it, so it is only right where that order is the order of execution; these tests hold every
backbone family to it. They run in float64 with random BatchNorm statistics: folding changes float32 rounding by
about 1e-7, enough to flip a spike whose membrane sits that close to the threshold, while in float64 a flip would
need a membrane within ~1e-15 of it.
"""
import copy

import pytest
import torch
from mmcv.cnn import fuse_conv_bn
from torch import nn

from spikeformer_mm.models.backbones import ESpikeFormer, ESpikeFormerLarge, MetaSpikeFormer, Spikeformer

BACKBONES = {
    'meta_spikeformer': lambda: MetaSpikeFormer(dict(embed_dims=(16, 32, 64, 96)), T=2, out_indices=(1, 2, 4)),
    'e_spikeformer': lambda: ESpikeFormer(dict(embed_dims=(16, 32, 64, 96)), T=2, out_indices=(1, 2, 4)),
    'e_spikeformer_spike_driven': lambda: ESpikeFormer(dict(embed_dims=(16, 32, 64, 96)), spike_driven=True),
    'e_spikeformer_large': lambda: ESpikeFormerLarge(
        dict(embed_dims=(16, 32, 64), depths=(1, 1, 1, 2), rep_conv=True), out_indices=(0, 1, 2, 3)),
    'spikeformer': lambda: Spikeformer(arch=dict(embed_dims=32, depth=2, num_heads=4), T=2),
}


def batch_norm_names(model: nn.Module) -> list:
    return [name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def batch_norms(model: nn.Module) -> int:
    return len(batch_norm_names(model))


def with_random_statistics(model: nn.Module) -> nn.Module:
    """``model`` in eval mode and float64, every BatchNorm given random affine parameters and running statistics
    (the initial ones, mean 0 and variance 1, would make the folding nearly an identity)."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            C = module.num_features
            module.running_mean.copy_(torch.randn(C, generator=generator) * 0.3)
            module.running_var.copy_(torch.rand(C, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(C, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(C, generator=generator) * 0.3)
    return model.double().eval()


@pytest.mark.parametrize('name', BACKBONES)
def test_folding_batch_norm_into_convs_keeps_the_outputs(name):
    torch.manual_seed(0)
    model = with_random_statistics(BACKBONES[name]())
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        expected = model(x)
        fused = fuse_conv_bn(copy.deepcopy(model))
        got = fused(x)
    assert batch_norms(fused) < batch_norms(model)
    # what stays are the BatchNorms of the attention's RepConv / linear Q, K, V (not after a sibling nn.Conv2d)
    assert all('.attn.' in where for where in batch_norm_names(fused))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert b.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
