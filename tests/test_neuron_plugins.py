"""Neurons as plug-ins: MultiStepLIF's reset and surrogate options on every kernel, against a per-step loop and
spikingjelly's LIFNode; any spikingjelly node through SpikingJellyNeuron, in a backbone, the energy counter, the ANN
twin, compact spike storage and a checkpoint."""
import copy
import itertools
import math

import pytest
import torch
from spikingjelly.activation_based import functional, neuron, surrogate
from torch import nn

from spikeformer_mm.benchmark import ann_twin, describe_neuron_backend
from spikeformer_mm.energy import EnergyCounter
from spikeformer_mm.models.backbones import MetaSpikeFormer
from spikeformer_mm.ops import (
    MultiStepLIF,
    SpikingJellyNeuron,
    SpikingNeuron,
    build_neuron,
    compact_spike_storage,
    cpp_kernels,
    kernels,
)
from spikeformer_mm.ops.spike_storage import pack_saved_tensor

T = 4


def loop_lif(x, tau, v_threshold, v_reset, decay_input, detach_reset, surrogate_name, alpha):
    """Per-step LIF with autograd, written from the equations (no kernel, no spikingjelly): charge towards the
    resting potential (``v_reset``, 0 for soft reset), fire at ``H >= v_threshold``, reset to ``v_reset`` or
    subtract the threshold (``v_reset=None``); the surrogate's derivative in the backward pass."""

    class Spike(torch.autograd.Function):

        @staticmethod
        def forward(ctx, h):
            ctx.save_for_backward(h)
            return (h >= v_threshold).to(h.dtype)

        @staticmethod
        def backward(ctx, grad):
            d = ctx.saved_tensors[0] - v_threshold
            if surrogate_name == 'sigmoid':
                return grad * alpha * torch.sigmoid(alpha * d) * (1 - torch.sigmoid(alpha * d))
            return grad * alpha / 2 / (1 + (math.pi / 2 * alpha * d) ** 2)

    rest = 0.0 if v_reset is None else v_reset
    v = torch.full_like(x[0], rest)
    out = []
    for x_t in x:
        h = v + (x_t - (v - rest)) / tau if decay_input else v - (v - rest) / tau + x_t
        s = Spike.apply(h)
        s_reset = s.detach() if detach_reset else s
        v = h - s_reset * v_threshold if v_reset is None else h * (1 - s_reset) + v_reset * s_reset
        out.append(s)
    return torch.stack(out)


def spikingjelly_lif(tau, v_threshold, v_reset, decay_input, detach_reset, surrogate_name, alpha):
    function = surrogate.Sigmoid(alpha=alpha) if surrogate_name == 'sigmoid' else surrogate.ATan(alpha=alpha)
    return neuron.LIFNode(tau=tau, decay_input=decay_input, v_threshold=v_threshold, v_reset=v_reset,
                          surrogate_function=function, detach_reset=detach_reset, step_mode='m')


def lif_input(shape, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    x = torch.randn(shape, dtype=dtype) * 1.5 + 0.8
    x.view(-1)[3::19] = 2.0  # H = 1.0, the threshold, exactly at the first step (tau = 2, v_rest = 0)
    return x


def forward_backward(fn, x, grad):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    out.backward(grad)
    return out.detach(), x.grad


SURROGATES = [('sigmoid', None), ('sigmoid', 2.5), ('atan', None), ('atan', 3.0)]  # None: spikingjelly's default
COMBINATIONS = [(v_reset, *sg, detach, decay, tau) for v_reset, sg, detach, decay, tau in itertools.product(
    [0.0, -0.3, None], SURROGATES, [True, False], [True, False], [2.0, 1.5])]


@pytest.mark.parametrize('v_reset, surrogate_name, alpha, detach_reset, decay_input, tau', COMBINATIONS)
def test_lif_options_equal_the_per_step_loop_and_spikingjelly(v_reset, surrogate_name, alpha, detach_reset,
                                                              decay_input, tau):
    """Every option set, on the C++ kernel (float32 CPU) and on the PyTorch kernel code (eager): spikes bit for
    bit, input gradients to float rounding."""
    lif = MultiStepLIF(tau=tau, v_reset=v_reset, decay_input=decay_input, detach_reset=detach_reset,
                       surrogate=surrogate_name, surrogate_alpha=alpha)
    assert lif.surrogate_alpha == (alpha or {'sigmoid': 4.0, 'atan': 2.0}[surrogate_name])
    settings = (tau, 1.0, v_reset, decay_input, detach_reset, surrogate_name, lif.surrogate_alpha)
    x = lif_input((T, 2, 3, 5, 5))
    grad = torch.randn(x.shape)
    expected, expected_grad = forward_backward(lambda v: loop_lif(v, *settings), x, grad)
    assert 0 < expected.sum() < expected.numel()

    node = spikingjelly_lif(*settings)
    sj_spikes, sj_grad = forward_backward(node, x, grad)
    functional.reset_net(node)
    spikes, x_grad = forward_backward(lif, x, grad)

    params = (tau, 1.0, v_reset, decay_input, detach_reset, lif.surrogate_alpha, kernels.is_power_of_two(tau),
              surrogate_name)
    flat, flat_grad = x.view(T, -1), grad.view(T, -1)
    eager_spikes, _ = kernels.lif_forward(flat, *params[:4], False, params[6])
    eager_grad = kernels.lif_backward(flat_grad, flat, None, None, *params)
    for got_spikes, got_grad in ((spikes, x_grad), (sj_spikes, sj_grad),
                                 (eager_spikes.view(x.shape), eager_grad.view(x.shape))):
        assert torch.equal(got_spikes, expected)
        torch.testing.assert_close(got_grad, expected_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not cpp_kernels.enabled(), reason='C++ kernels turned off by the environment')
@pytest.mark.parametrize('v_reset, surrogate_name, detach_reset', [(None, 'atan', False), (None, 'sigmoid', True),
                                                                   (-0.3, 'atan', True), (0.0, 'atan', False)])
def test_the_cpp_kernel_equals_the_pytorch_kernel_with_nan_and_infinities(v_reset, surrogate_name, detach_reset):
    """Whole vectors, tails and threads' tasks (n); NaN and infinities in the input."""
    module = cpp_kernels.module('lif')
    for n in (5, 1007, 100003):
        x = lif_input((T, n), seed=n)
        x.view(-1)[::13] = float('nan')
        x.view(-1)[5::17] = float('inf')
        x.view(-1)[7::23] = -float('inf')
        params = (2.0, 0.7, v_reset, True, detach_reset, 3.0, True, surrogate_name)
        spikes, levels = kernels.lif_forward(x, *params[:4], True, True)
        got_spikes, got_levels = module.lif_forward(x, *params[:4], True, True)
        assert torch.equal(got_spikes, spikes) and torch.equal(got_levels, levels)
        grad = torch.randn(x.shape)
        expected = kernels.lif_backward(grad, x, None, None, *params)
        got = module.lif_backward(grad, x, None, None, *params)
        assert torch.equal(got.isnan(), expected.isnan())
        torch.testing.assert_close(got.nan_to_num(-7), expected.nan_to_num(-7), rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(not cpp_kernels.enabled(), reason='C++ kernels turned off by the environment')
@pytest.mark.parametrize('v_reset, surrogate_name', [(None, 'atan'), (0.0, 'atan'), (None, 'sigmoid')])
def test_the_options_hold_when_the_input_is_recomputed_from_a_batch_norms(v_reset, surrogate_name):
    """After a RecomputableBatchNorm2d the backward kernel gets the BatchNorm's input and ``scale``/``shift``: the
    same gradient as on the BatchNorm's output, bit for bit in C++ and to float rounding in the PyTorch code."""
    module = cpp_kernels.module('lif')
    torch.manual_seed(0)
    B, C, HW = 3, 5, 37  # rows of 37 elements: channel boundaries inside vectors
    x, grad = torch.randn(T, B, C, HW), torch.randn(T, B, C, HW)
    scale, shift = torch.randn(C, 1), torch.randn(C, 1)
    params = (2.0, 1.0, v_reset, True, False, 3.0, True, surrogate_name)
    expected = module.lif_backward(grad, kernels.batch_norm_transform(x, scale, shift), None, None, *params)
    assert torch.equal(module.lif_backward(grad, x, scale, shift, *params), expected)
    torch.testing.assert_close(kernels.lif_backward(grad, x, scale, shift, *params), expected, rtol=1e-6, atol=1e-7)


def test_the_compiled_kernel_serves_the_options():
    """float64 is not a C++ dtype: the torch.compile'd kernel runs, with soft reset and the atan surrogate."""
    if kernels.lif_forward_kernel.disabled:
        pytest.skip('torch.compile is off (SPIKEFORMER_COMPILE=0)')
    settings = (2.0, 1.0, None, True, False, 'atan', 2.0)
    x = lif_input((3, 2, 40), dtype=torch.float64)
    grad = torch.randn(x.shape, dtype=torch.float64)
    spikes, x_grad = forward_backward(MultiStepLIF(v_reset=None, surrogate='atan', detach_reset=False), x, grad)
    expected, expected_grad = forward_backward(lambda v: loop_lif(v, *settings), x, grad)
    assert kernels.lif_forward_kernel.compiled is not None
    assert torch.equal(spikes, expected)
    torch.testing.assert_close(x_grad, expected_grad, rtol=1e-12, atol=1e-14)


class TestBadConfigs:

    def test_an_unknown_surrogate_names_the_valid_ones(self):
        with pytest.raises(ValueError, match=r"surrogate must be one of \('sigmoid', 'atan'\), got 'erf'.*"
                                             "SpikingJellyNeuron"):
            MultiStepLIF(surrogate='erf')
        with pytest.raises(ValueError, match='surrogate_alpha must be > 0'):
            MultiStepLIF(surrogate_alpha=0)

    def test_an_unknown_neuron_type_lists_the_registered_ones(self):
        with pytest.raises(ValueError, match="unknown neuron type 'LIF'.*MultiStepLIF, SFANeuron, .*"
                                             "SpikingJellyNeuron"):
            build_neuron(dict(type='LIF'))

    def test_an_unknown_argument_lists_the_neurons_arguments(self):
        with pytest.raises(ValueError, match="MultiStepLIF takes no argument 'surogate'; its arguments: tau, "
                                             'v_threshold, v_reset, decay_input, detach_reset, surrogate, '
                                             'surrogate_alpha, backend'):
            build_neuron(dict(type='MultiStepLIF', surogate='atan'))

    def test_an_unknown_node_lists_spikingjellys_nodes(self):
        with pytest.raises(ValueError, match="unknown spikingjelly neuron node 'LIFNod'; the valid ones .*IFNode, .*"
                                             'LIFNode, .*ParametricLIFNode'):
            build_neuron(dict(type='SpikingJellyNeuron', node='LIFNod'))

    def test_an_unknown_surrogate_lists_spikingjellys_surrogates(self):
        with pytest.raises(ValueError, match="unknown spikingjelly surrogate 'Atan'; the valid ones: ATan, .*Sigmoid"):
            SpikingJellyNeuron(node='LIFNode', surrogate=dict(type='Atan'))

    def test_an_unknown_node_argument_lists_the_nodes_arguments(self):
        with pytest.raises(ValueError, match="IFNode takes no argument 'tau'; its arguments: v_threshold, v_reset, "
                                             'surrogate, detach_reset, store_v_seq'):
            SpikingJellyNeuron(node='IFNode', tau=2.0)

    def test_single_step_mode_is_refused(self):
        with pytest.raises(ValueError, match="multi-step mode; remove step_mode='s'"):
            SpikingJellyNeuron(node='LIFNode', step_mode='s')

    def test_a_node_with_other_than_binary_spikes_is_refused_at_its_output(self):
        ternary = SpikingJellyNeuron(node='TernaryIFNode')
        with pytest.raises(ValueError, match=r'TernaryIFNode emitted -1\.0: SpikingJellyNeuron serves nodes whose '
                                             'spikes are 0 or 1'):
            ternary(-torch.ones(2, 3) * 2)


class TestSpikingJellyNeuron:

    @pytest.mark.parametrize('cfg, node', [
        (dict(node='LIFNode', tau=2, v_reset=None, surrogate=dict(type='ATan', alpha=3.0), detach_reset=True),
         lambda: neuron.LIFNode(tau=2.0, v_reset=None, surrogate_function=surrogate.ATan(alpha=3.0),
                                detach_reset=True, step_mode='m')),
        (dict(node='IFNode', v_threshold=0.7, surrogate='Sigmoid'),
         lambda: neuron.IFNode(v_threshold=0.7, surrogate_function=surrogate.Sigmoid(), step_mode='m')),
        (dict(node='ParametricLIFNode', init_tau=3.0, v_reset=None),
         lambda: neuron.ParametricLIFNode(init_tau=3.0, v_reset=None, step_mode='m')),
    ])
    def test_equals_the_spikingjelly_node_and_keeps_no_state(self, cfg, node):
        adapter, node = build_neuron(dict(type='spikeformer_mm.SpikingJellyNeuron', **cfg)), node()
        x, grad = lif_input((T, 2, 8, 3, 3)), torch.randn(T, 2, 8, 3, 3)
        spikes, x_grad = forward_backward(adapter, x, grad)
        expected, expected_grad = forward_backward(node, x, grad)
        assert torch.equal(spikes, expected) and torch.equal(x_grad, expected_grad)
        assert 0 < spikes.sum() < spikes.numel() and set(spikes.unique().tolist()) == {0.0, 1.0}
        assert isinstance(adapter.node.v, float)  # reset: no membrane (or graph) kept after the call
        assert torch.equal(adapter(x), spikes)  # the second call starts from rest too
        functional.reset_net(node)
        assert torch.equal(node(x[:1]), adapter(x[:1]))

    def test_a_plif_tau_trains_and_is_saved(self):
        torch.manual_seed(0)

        def model():
            return nn.Sequential(nn.Conv2d(3, 4, 1), nn.Unflatten(0, (T, 2)),
                                 build_neuron(dict(type='SpikingJellyNeuron', node='ParametricLIFNode',
                                                   init_tau=2.0, v_reset=None, surrogate='ATan')),
                                 nn.Flatten(0, 1), nn.Conv2d(4, 2, 1))

        net = model()
        assert [name for name, _ in net.named_parameters()] == ['0.weight', '0.bias', '2.node.w', '4.weight',
                                                                '4.bias']
        w_before = net[2].node.w.item()
        optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
        x = torch.randn(T * 2, 3, 4, 4) * 2
        net(x).square().mean().backward()
        assert net[2].node.w.grad.abs() > 0
        optimizer.step()
        assert net[2].node.w.item() != w_before
        restored = model()
        restored.load_state_dict(net.state_dict())
        assert restored[2].node.w.item() == net[2].node.w.item()
        assert torch.equal(restored(x), net(x))


@pytest.fixture(scope='module')
def plif_backbone():
    torch.manual_seed(0)
    cfg = dict(type='SpikingJellyNeuron', node='ParametricLIFNode', init_tau=2.0, v_reset=None, detach_reset=True,
               surrogate=dict(type='ATan', alpha=2.0))
    return MetaSpikeFormer(dict(embed_dims=[8, 16, 32, 48]), T=2, neuron_cfg=cfg)


def neurons_of(model):
    return {name: m for name, m in model.named_modules() if isinstance(m, SpikingNeuron)}


class TestInABackbone:

    def test_every_neuron_is_the_node_and_the_attention_neuron_fires_at_half(self, plif_backbone):
        neurons = neurons_of(plif_backbone)
        assert len(neurons) > 20 and all(type(m.node) is neuron.ParametricLIFNode for m in neurons.values())
        thresholds = {name: m.node.v_threshold for name, m in neurons.items()}
        assert {name for name, th in thresholds.items() if th == 0.5} == {
            name for name in neurons if name.endswith('attn_neuron')} != set()
        w_names = [name for name in plif_backbone.state_dict() if name.endswith('.node.w')]
        assert sorted(w_names) == sorted(f'{name}.node.w' for name in neurons)

    def test_the_taus_get_gradients_and_compact_storage_changes_none(self, plif_backbone):
        # BatchNorm on running statistics: in training mode this narrow network's gradients explode (threshold 1 at
        # initialisation, see DEVELOPERS.md), which would compare values around 1e27
        model = copy.deepcopy(plif_backbone).eval()
        x = torch.randn(2, 3, 32, 32)
        grads = []
        for compact in (False, True):
            model.zero_grad()
            with compact_spike_storage(compact):
                sum(f.square().mean() for f in model(x)).backward()
            grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
        assert grads[0].keys() == grads[1].keys()
        for name in grads[0]:
            assert torch.equal(grads[0][name], grads[1][name]), name
        tau_grads = [g for name, g in grads[1].items() if name.endswith('.node.w')]
        assert len(tau_grads) == len(neurons_of(model)) and any(bool(g != 0) for g in tau_grads)
        assert all(bool(g.isfinite()) for g in tau_grads)

    def test_its_spikes_are_saved_in_one_byte(self):
        adapter = SpikingJellyNeuron(node='LIFNode', v_reset=None)
        spikes = adapter(lif_input((T, 2, 8)))
        packed = pack_saved_tensor(spikes[1:].transpose(0, 1))  # a view of them, as a layer may save it
        assert packed[0].dtype == torch.uint8 and torch.equal(packed[0].float(), spikes[1:].transpose(0, 1))

    def test_the_energy_counter_counts_every_adapter(self, plif_backbone):
        model = copy.deepcopy(plif_backbone).eval()
        neurons = neurons_of(model)
        outputs = {}
        for name, m in neurons.items():
            m.register_forward_hook(lambda m, args, out, name=name: outputs.setdefault(name, out.clone()))
        with torch.no_grad(), EnergyCounter(model) as counter:
            model(torch.randn(2, 3, 32, 32) * 2)
        state = counter.state()
        assert state['time_steps'] == 2 and set(state['neurons']) == set(neurons)
        for name, out in outputs.items():
            stats = state['neurons'][name]
            assert (stats['type'], stats['D'], stats['numel']) == ('SpikingJellyNeuron', 1, out.numel())
            assert stats['step_sums'] == out.reshape(2, -1).sum(1).tolist()
        conv = next(name for name in state['layers'] if name.endswith('sep_conv.pwconv1.conv'))
        assert state['layers'][conv]['inputs'] == ['spikes'] and state['layers'][conv]['real_macs'] == 0

    def test_the_ann_twin_replaces_the_adapters_and_their_taus(self, plif_backbone):
        model = copy.deepcopy(plif_backbone)
        count = len(neurons_of(model))
        params = sum(p.numel() for p in model.parameters())
        assert describe_neuron_backend(model, torch.device('cpu')) == \
            f'SpikingJellyNeuron x{count}: spikingjelly ParametricLIFNode'
        ann_twin(model)
        assert not neurons_of(model)
        assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == count
        assert sum(p.numel() for p in model.parameters()) == params - count  # one tau per neuron
        with torch.no_grad():
            assert [f.shape for f in model(torch.randn(1, 3, 32, 32))][-1] == (1, 48, 2, 2)
