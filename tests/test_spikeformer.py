"""Spikeformer backbone: interface, shapes, parameter count, and the spatio-temporal attention's mixing of time."""
import pytest
import torch
from torch import nn

from spikeformer_mm.models.backbones import Spikeformer
from spikeformer_mm.models.backbones.spikeformer import SpatioTemporalAttention
from spikeformer_mm.ops import SpikeMatMul

TINY = dict(embed_dims=32, depth=2, num_heads=4)


def tiny(**kwargs) -> Spikeformer:
    torch.manual_seed(0)
    return Spikeformer(arch=kwargs.pop('arch', TINY), **kwargs)


def expected_params(C: int, depth: int, mlp_ratio: float = 4.0, in_channels: int = 3) -> int:
    """Parameter count from the layout: CT convs (no bias) + BN, conv position embedding, blocks."""
    widths = (in_channels, C // 8, C // 4, C // 2, C)
    tokenizer = sum(9 * a * b + 2 * b for a, b in zip(widths[:-1], widths[1:]))
    pos_embed = 9 * C * C + 2 * C
    hidden = int(C * mlp_ratio)
    attention = 4 * (C * C + 2 * C)  # q, k, v, proj: 1x1 conv + BN
    mlp = (C * hidden + hidden + 2 * hidden) + (hidden * C + C + 2 * C)  # 1x1 conv with bias + BN, twice
    return tokenizer + pos_embed + depth * (attention + mlp)


@pytest.mark.parametrize('arch, C, depth', [('2-256', 256, 2), ('4-384', 384, 4), ('8-512', 512, 8)])
def test_parameter_counts_match_the_layout(arch, C, depth):
    model = Spikeformer(arch=arch)
    assert sum(p.numel() for p in model.parameters()) == expected_params(C, depth)


def test_dvs_parameter_count_2_256():
    # 2 polarity channels in, the DVS-Gesture / CIFAR10-DVS configs' backbone.
    model = Spikeformer(arch='2-256', in_channels=2)
    assert sum(p.numel() for p in model.parameters()) == expected_params(256, 2, in_channels=2) == 2_563_584


def test_outputs_strides_channels_and_negative_indices():
    model = tiny(T=2, out_indices=(0, 1, 2, 3, -1)).eval()
    outs = model(torch.rand(2, 3, 64, 48))
    assert [tuple(o.shape) for o in outs] == [(2, 4, 32, 24), (2, 8, 16, 12), (2, 16, 8, 6), (2, 32, 4, 3),
                                              (2, 32, 4, 3)]
    assert model.out_channels == (4, 8, 16, 32, 32)
    assert Spikeformer(arch=TINY, out_indices=-2).out_indices == (3,)


def test_keep_time_returns_time_major_and_its_mean_is_the_default_output():
    x = torch.rand(2, 3, 32, 32)
    kept = tiny(T=3, keep_time=True).eval()(x)[0]
    averaged = tiny(T=3).eval()(x)[0]
    assert kept.shape == (3, 2, 32, 2, 2)
    torch.testing.assert_close(kept.mean(0), averaged)


def test_event_frames_are_read_batch_major_without_repetition():
    model = tiny(T=4, in_channels=2, keep_time=True).eval()
    frames = torch.rand(2, 4, 2, 32, 32) * 3  # [B, T, C, H, W]
    out = model(frames)[0]
    assert out.shape == (4, 2, 32, 2, 2)  # [T, B, C, h, w]
    # Frames that repeat one image equal that image directly encoded (repeated T times) ...
    static = frames[:, :1].expand(-1, 4, -1, -1, -1)
    torch.testing.assert_close(model(static)[0], model(frames[:, 0])[0])
    # ... and each sample's frames are its own: the batch order is kept.
    torch.testing.assert_close(model(frames[1:])[0][:, 0], out[:, 1])


def test_bad_inputs_and_args_have_clear_errors():
    model = tiny(T=4, in_channels=2)
    with pytest.raises(ValueError, match=r'got event frames with 3 time steps .*\[B, T, C, H, W\]'):
        model(torch.rand(2, 3, 2, 32, 32))
    with pytest.raises(ValueError, match='divisible by 16'):
        model(torch.rand(2, 4, 2, 30, 32))
    with pytest.raises(ValueError, match='expects 2 input channels'):
        model(torch.rand(2, 4, 3, 32, 32))
    with pytest.raises(KeyError, match="unknown Spikeformer arch 'huge'; valid names: 2-256, 4-384, 8-512"):
        Spikeformer(arch='huge')
    with pytest.raises(KeyError, match=r"unknown Spikeformer arch keys \['depths'\]"):
        Spikeformer(arch=dict(embed_dims=64, depths=3))
    with pytest.raises(ValueError, match='divisible by 8 and by num_heads = 8, got 36'):
        Spikeformer(arch=dict(embed_dims=36))
    with pytest.raises(ValueError, match=r"attn_mode must be one of \('spatiotemporal', 'spatial', 'temporal'\)"):
        Spikeformer(arch=TINY, attn_mode='global')


def test_frozen_stages_and_norm_eval():
    model = tiny(frozen_stages=1, norm_eval=True).train()
    for i, stage in enumerate(model.stages):
        assert all(p.requires_grad == (i > 1) for p in stage.parameters())
    assert all(not m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.stages[2].training


def test_drop_path_is_a_linear_schedule_over_the_encoder_blocks():
    model = tiny(arch=dict(embed_dims=32, depth=3, num_heads=4), drop_path_rate=0.2)
    rates = [block.drop_path.drop_path.drop_prob for block in model.stages[4][1:]]
    assert rates == pytest.approx([0.0, 0.1, 0.2])


def test_every_attention_product_goes_through_spike_matmul_on_spikes():
    model = tiny(T=2).eval()
    seen = []
    for module in model.modules():
        if isinstance(module, SpikeMatMul):
            module.register_forward_hook(lambda m, inputs, out: seen.append(inputs))
    model(torch.rand(1, 3, 32, 32) * 4)
    assert len(seen) == 2 * TINY['depth']
    kv_inputs = seen[0]  # K^T and V of the first block: binary spikes
    assert all(set(t.unique().tolist()) <= {0.0, 1.0} for t in kv_inputs)


@pytest.mark.parametrize('mode, groups', [('spatiotemporal', (2, 4, 3 * 6, 8)), ('spatial', (3, 2, 4, 6, 8)),
                                          ('temporal', (2, 4, 6, 3, 8))])
def test_token_groups_round_trip(mode, groups):
    attn = SpatioTemporalAttention(32, 4, dict(type='MultiStepLIF'), attn_mode=mode)
    x = torch.randn(3, 2, 32, 2, 3)
    tokens = attn._tokens(x)
    assert tokens.shape == groups
    torch.testing.assert_close(attn._untokens(tokens, x.shape), x, rtol=0, atol=0)


def _outputs_before_and_after_perturbing_the_last_step(attn_mode: str):
    """Tokenizer and encoder outputs ``[T, B, C, h, w]`` for DVS-sized frames and for the same frames with a new
    last step, from a model in eval mode with the firing rates of a working network (10-30 % on q, k, v)."""
    model = tiny(arch=dict(embed_dims=64, depth=2, num_heads=2), T=4, in_channels=2, keep_time=True,
                 attn_mode=attn_mode, out_indices=(3, 4))
    with torch.no_grad():
        # Random-init BatchNorms leave the spikes to die out with depth: give every BN a +1 shift and the
        # statistics of its inputs (one train-mode pass), then eval, where nothing but the model's own operations
        # can move information between time steps.
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = None
                module.bias.fill_(1.0)
        model.train()(torch.rand(4, 4, 2, 128, 128) * 4)
        model.eval()
        torch.manual_seed(1)
        frames = torch.rand(2, 4, 2, 128, 128) * 4  # [B, T, 2, H, W]
        perturbed = frames.clone()
        perturbed[:, -1] = torch.rand(2, 2, 128, 128) * 4
        return model(frames), model(perturbed)


@pytest.mark.parametrize('attn_mode', ['spatiotemporal', 'temporal'])
def test_attention_across_time_carries_the_last_step_back_to_earlier_steps(attn_mode):
    (tokens, out), (tokens_p, out_p) = _outputs_before_and_after_perturbing_the_last_step(attn_mode)
    # The tokenizer (convolutions and LIF neurons) is causal: earlier steps do not see the change ...
    assert torch.equal(tokens[:-1], tokens_p[:-1])
    assert not torch.equal(tokens[-1], tokens_p[-1])
    # ... but after the encoder, every earlier step does, substantially.
    for t in range(3):
        assert (out[t] - out_p[t]).abs().mean() > 1e-2 * out[t].abs().mean(), t


def test_attention_modes_are_the_same_model_with_other_token_groups():
    weights = [tiny(attn_mode=mode).state_dict() for mode in ('spatiotemporal', 'spatial', 'temporal')]
    for other in weights[1:]:
        assert other.keys() == weights[0].keys()
        assert all(torch.equal(other[key], weights[0][key]) for key in other)


def test_spatial_only_attention_leaves_earlier_steps_unchanged():
    (tokens, out), (tokens_p, out_p) = _outputs_before_and_after_perturbing_the_last_step('spatial')
    assert torch.equal(out[:-1], out_p[:-1])
    assert not torch.equal(out[-1], out_p[-1])


def test_init_cfg_and_training_step_backpropagate_to_every_parameter():
    model = tiny(T=2, init_cfg=dict(type='TruncNormal', layer='Conv2d', std=0.02))
    model.init_weights()
    conv = model.stages[0].conv.conv
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.3)
    model.train()
    model(torch.rand(2, 3, 32, 32) * 100)[0].sum().backward()
    assert all(p.grad is not None for p in model.parameters())
