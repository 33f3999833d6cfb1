"""Direct encoding: the stem's conv + BN runs once per image and its output is repeated over the T steps, with the
results of running it on T copies of the image."""
import pytest
import torch
from torch import nn

from spikeformer_mm.energy.counter import EnergyCounter
from spikeformer_mm.models.backbones import ESpikeFormer, ESpikeFormerLarge, MetaSpikeFormer
from spikeformer_mm.models.backbones.base_spiking_backbone import is_per_frame, run_units
from spikeformer_mm.models.layers import SpikeConvBN

BACKBONES = {
    'meta_spikeformer': lambda **kw: MetaSpikeFormer(dict(embed_dims=[16, 32, 64, 96]), **kw),
    'e_spikeformer': lambda **kw: ESpikeFormer(dict(embed_dims=[16, 32, 64, 96]), **kw),
    'e_spikeformer_large': lambda **kw: ESpikeFormerLarge(dict(embed_dims=[16, 32, 64], depths=(1, 1, 1, 1)), **kw),
}


def _run(model, images, repeat_first: bool):
    """Outputs, parameter gradients and BN running statistics of one training step; ``repeat_first`` feeds the
    stages T copies of the image, as the reference implementations do."""
    torch.manual_seed(1)
    if repeat_first:
        frames = images.unsqueeze(0).expand(model.T, *images.shape).contiguous()
        outs = model._forward_time_major(frames)
    else:
        outs = model(images)
    sum((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum() for out in outs).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    stats = {n: b.clone() for n, b in model.state_dict().items() if 'running' in n}
    return outs, grads, stats


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_stem_once_per_image_equals_stem_on_T_copies(name):
    torch.manual_seed(0)
    # stages 0-2: deeper, the gradients of a random network on 4x4 maps overflow, with or without this
    model = BACKBONES[name](T=3, out_indices=(0, 2)).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(2, 3, 64, 64)
    stem_inputs = []
    handle = model.stages[0].downsample.conv.register_forward_hook(lambda m, a, o: stem_inputs.append(a[0].shape))
    outs, grads, stats = _run(model, images, repeat_first=False)
    model.load_state_dict(state)
    model.zero_grad()
    outs_ref, grads_ref, stats_ref = _run(model, images, repeat_first=True)
    handle.remove()
    assert grads.keys() == grads_ref.keys() and {key.split('.')[1] for key in grads} == {'0', '1', '2'}
    assert stem_inputs == [(2, 3, 64, 64), (6, 3, 64, 64)]  # one frame per image, then the T copies
    for out, out_ref in zip(outs, outs_ref):
        torch.testing.assert_close(out, out_ref, rtol=1e-4, atol=1e-4)
    for key in grads_ref:
        assert torch.isfinite(grads_ref[key]).all() and grads_ref[key].abs().sum() > 0, key
        if key == 'stages.0.downsample.conv.bias':  # before a BatchNorm: zero in exact arithmetic, rounding here
            scale = grads_ref['stages.0.downsample.conv.weight'].abs().max()
            assert grads[key].abs().max() < 1e-4 * scale and grads_ref[key].abs().max() < 1e-4 * scale
            continue
        torch.testing.assert_close(grads[key], grads_ref[key], rtol=1e-3, atol=1e-4, msg=lambda m: f'{key}: {m}')
    for key in stats_ref:  # the stem's BatchNorm counts its batch as T copies: Bessel's factor of T*B*H*W values
        torch.testing.assert_close(stats[key], stats_ref[key], rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_eval_outputs_equal_with_T_copies(name):
    torch.manual_seed(0)
    model = BACKBONES[name](T=2, keep_time=True).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out, = model(images)
        ref, = model._forward_time_major(images.unsqueeze(0).expand(2, *images.shape).contiguous())
    assert out.shape == (2, 2, model.out_channels[-1], 4, 4)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_run_units_repeats_before_the_first_unit_with_a_neuron():
    stem = SpikeConvBN(3, 4, 3, padding=1)
    spiking = SpikeConvBN(4, 4, 1, neuron_cfg=dict(type='MultiStepLIF'))
    assert is_per_frame(stem) and not is_per_frame(spiking) and not is_per_frame(nn.Identity())
    seen = []

    def call(unit, x):
        seen.append((type(unit).__name__, x.shape[0]))
        return unit(x)

    frame = torch.randn(1, 2, 3, 8, 8)
    out = run_units([stem, spiking], frame, repeat=4, call=call)
    assert seen == [('SpikeConvBN', 1), ('SpikeConvBN', 4)] and out.shape == (4, 2, 4, 8, 8)
    assert run_units([stem], frame, repeat=4).shape == (4, 2, 4, 8, 8)  # repeated at the end, if no neuron follows
    assert run_units([stem], frame, repeat=1).shape == (1, 2, 4, 8, 8)


def test_energy_counter_finds_T_and_counts_the_stem_once():
    torch.manual_seed(0)
    model = BACKBONES['e_spikeformer'](T=4).eval()  # SFA neurons only: T comes from the spiking layers' frames
    with EnergyCounter(model) as counter, torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    state = counter.state()
    stem = state['layers']['stages.0.downsample.conv']
    assert state['time_steps'] == 4
    assert stem['macs'] == stem['charged_macs'] == 2 * 8 * 32 * 32 * 3 * 7 * 7  # one frame of each image
