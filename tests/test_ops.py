"""Spike-neuron ops: exact values of the reference neurons' definitions (spikingjelly LIF, V3 SFA), gradients
against a plain per-step PyTorch loop."""
import pytest
import torch
from torch import nn

from spikeformer_mm.ops import MultiStepLIF, SFANeuron, build_neuron, expand_to_spikes, sfa, spike_driven_forward


def loop_lif(x, tau=2.0, v_th=1.0, v_reset=0.0, alpha=4.0):
    """Straightforward per-step LIF with autograd (decay_input, hard reset, detached reset, sigmoid surrogate)."""

    class Spike(torch.autograd.Function):

        @staticmethod
        def forward(ctx, h):
            ctx.save_for_backward(h)
            return (h >= v_th).to(h.dtype)

        @staticmethod
        def backward(ctx, g):
            h, = ctx.saved_tensors
            sig = torch.sigmoid(alpha * (h - v_th))
            return g * alpha * sig * (1 - sig)

    v = torch.full_like(x[0], v_reset)
    out = []
    for x_t in x:
        h = v + (x_t - (v - v_reset)) / tau
        s = Spike.apply(h)
        v = h * (1 - s.detach()) + v_reset * s.detach()
        out.append(s)
    return torch.stack(out)


def backward_allocates_zeros(neuron, x):
    """Whether a backward pass through ``neuron`` zero-fills anything (a gradient for its uint8 copy)."""
    x = x.clone().requires_grad_()
    out = neuron(x)
    grad = torch.randn_like(out)
    with torch.profiler.profile() as prof:
        out.backward(grad)
    return any(event.key in ('aten::zeros', 'aten::zero_', 'aten::fill_') for event in prof.key_averages())


class TestMultiStepLIF:

    def test_single_step_threshold(self):
        x = torch.tensor([[1.0, 1.99, 2.0, 2.5, -3.0]])
        assert MultiStepLIF()(x).tolist() == [[0, 0, 1, 1, 0]]
        assert MultiStepLIF(v_threshold=0.5)(torch.tensor([[0.99, 1.0]])).tolist() == [[0, 1]]

    def test_constant_inputs_over_four_steps(self):
        lif = MultiStepLIF()
        assert lif(torch.full((4, 1), 1.0)).flatten().tolist() == [0, 0, 0, 0]
        assert lif(torch.full((4, 1), 1.9)).flatten().tolist() == [0, 1, 0, 1]

    def test_surrogate_gradient_at_threshold(self):
        x = torch.tensor([[2.0]], requires_grad=True)
        MultiStepLIF()(x).sum().backward()
        assert x.grad.item() == pytest.approx(0.5, abs=1e-7)

    def test_no_state_leaks_between_calls(self):
        lif = MultiStepLIF()
        x = torch.rand(4, 2, 8, 5, 5) * 3
        first = lif(x)
        assert torch.equal(first, lif(x))
        assert torch.equal(first, lif(x))

    @pytest.mark.parametrize('T', [1, 4])  # T = 4: resets and the gradient carried through time
    def test_matches_per_step_loop_forward_and_backward(self, T):
        torch.manual_seed(0)
        x = (torch.randn(T, 3, 16, 7, 7) * 2).requires_grad_()
        x_ref = x.detach().clone().requires_grad_()
        grad = torch.randn(T, 3, 16, 7, 7)
        out = MultiStepLIF()(x)
        ref = loop_lif(x_ref)
        assert torch.equal(out, ref)
        with torch.no_grad():  # the inference path writes no uint8 copy
            assert torch.equal(MultiStepLIF()(x), ref)
        out.backward(grad)
        ref.backward(grad)
        torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-6, atol=1e-7)

    def test_matches_spikingjelly_lif_node(self):
        from spikingjelly.activation_based import functional, neuron, surrogate
        node = neuron.LIFNode(tau=2., decay_input=True, detach_reset=True,
                              surrogate_function=surrogate.Sigmoid(alpha=4.), step_mode='m')
        torch.manual_seed(1)
        x = (torch.randn(4, 2, 8, 5, 5) * 2).requires_grad_()
        x_sj = x.detach().clone().requires_grad_()
        out, out_sj = MultiStepLIF()(x), node(x_sj)
        functional.reset_net(node)
        assert torch.equal(out, out_sj)
        grad = torch.randn_like(out)
        out.backward(grad)
        out_sj.backward(grad)
        torch.testing.assert_close(x.grad, x_sj.grad, rtol=1e-6, atol=1e-7)

    @pytest.mark.parametrize('backend, device, expected', [
        ('auto', 'cuda', 'spikingjelly'), ('cuda', 'cuda', 'spikingjelly'), ('triton', 'cuda', 'spikingjelly'),
        ('torch', 'cuda', 'fused'), ('auto', 'cpu', 'fused'), ('torch', 'cpu', 'fused')])
    def test_implementation_selection(self, backend, device, expected):
        from spikeformer_mm.ops.lif import select_implementation
        assert select_implementation(backend, torch.device(device)) == expected

    @pytest.mark.parametrize('T', [1, 4])
    def test_backward_fills_no_zero_gradient_for_the_uint8_copy(self, T):
        assert not backward_allocates_zeros(MultiStepLIF(), torch.randn(T, 2, 8, 5, 5) * 2)

    def test_output_is_binary_and_keeps_shape_and_dtype(self):
        out = MultiStepLIF()(torch.randn(2, 3, 4) * 4)
        assert out.shape == (2, 3, 4) and out.dtype == torch.float32
        assert set(out.unique().tolist()) <= {0.0, 1.0}

    @pytest.mark.parametrize('shape', [(0, 3, 4), (5,)])
    def test_bad_shapes(self, shape):
        with pytest.raises(ValueError, match='T'):
            MultiStepLIF()(torch.zeros(shape))

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match='backend must be one of'):
            MultiStepLIF(backend='cupy')
        with pytest.raises(ValueError, match='tau must be > 1'):
            MultiStepLIF(tau=1.0)

    @pytest.mark.skipif(torch.cuda.is_available(), reason='checks the error raised without a CUDA device')
    @pytest.mark.parametrize('backend', ['cuda', 'triton'])
    def test_gpu_backend_without_gpu_is_a_clear_error(self, backend):
        with pytest.raises(ValueError, match='needs a CUDA device'):
            MultiStepLIF(backend=backend)


class TestSFANeuron:
    # exact halves, both ends of the window and values outside it
    x = [-0.5, 0.0, 0.49, 0.5, 1.5, 2.5, 3.5, 3.99, 4.0, 4.7]

    def test_levels_round_half_to_even_by_default(self):
        """Model_Base (``MultiSpike``: ``torch.round``) and the dense-task code."""
        out = SFANeuron(D=4)(torch.tensor(self.x))
        assert (out * 4).tolist() == [0, 0, 0, 0, 2, 2, 4, 4, 4, 4]
        assert SFANeuron(D=4, norm=1)(torch.tensor(self.x)).tolist() == [0, 0, 0, 0, 2, 2, 4, 4, 4, 4]

    def test_levels_round_half_up_on_request(self):
        """Model_Large (``Multispike``: ``floor(x + 0.5)``)."""
        out = SFANeuron(D=4, tie='up')(torch.tensor(self.x))
        assert (out * 4).tolist() == [0, 0, 0, 1, 2, 3, 4, 4, 4, 4]

    @pytest.mark.parametrize('tie', ['even', 'up'])
    def test_every_kernel_rounds_alike(self, tie):
        """The C++ kernel (float32), the compiled/eager kernel (float64) and the no-grad path agree with torch."""
        torch.manual_seed(0)
        x = torch.cat([torch.randint(-2, 11, (300,)) / 2, torch.randn(300) * 3])
        expected = torch.round(x.clamp(0, 4)) if tie == 'even' else torch.floor(x.clamp(0, 4) + 0.5)
        for dtype in (torch.float32, torch.float64):
            for grad in (False, True):
                xd = x.to(dtype).clone().requires_grad_(grad)
                with torch.set_grad_enabled(grad):
                    assert torch.equal(SFANeuron(D=4, norm=1, tie=tie)(xd).detach(), expected.to(dtype))

    @pytest.mark.parametrize('window, expected', [('inclusive', [0, 1, 1, 1, 1, 1, 1, 1, 1, 0]),
                                                  ('strict', [0, 0, 1, 1, 1, 1, 1, 1, 0, 0])])
    @pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
    def test_straight_through_gradient(self, window, expected, dtype):
        x = torch.tensor(self.x, dtype=dtype, requires_grad=True)
        SFANeuron(D=4, window=window)(x).sum().backward()
        assert (x.grad * 4).tolist() == expected
        x = torch.tensor(self.x, requires_grad=True)
        sfa(x, D=8, norm=2).sum().backward()
        assert x.grad.tolist() == [0] + [0.5] * 9

    @pytest.mark.parametrize('kwargs, message', [(dict(tie='nearest'), r"tie rule must be one of \('even', 'up'\)"),
                                                 (dict(window='open'),
                                                  r"window must be one of \('inclusive', 'strict'\)")])
    def test_unknown_rounding_names_the_choices(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            SFANeuron(D=4, **kwargs)
        with pytest.raises(ValueError, match=message):
            sfa(torch.zeros(2), **kwargs)

    def test_backward_fills_no_zero_gradient_for_the_uint8_code(self):
        assert not backward_allocates_zeros(SFANeuron(D=4), torch.randn(2, 8, 5, 5) * 3)

    def test_other_ceilings(self):
        assert SFANeuron(D=8, norm=1)(torch.tensor([7.5, 9.0, 2.2])).tolist() == [8, 8, 2]
        assert SFANeuron(D=1)(torch.tensor([0.4, 0.5, 3.0])).tolist() == [0, 0, 1]
        assert SFANeuron(D=1, tie='up')(torch.tensor([0.4, 0.5, 3.0])).tolist() == [0, 1, 1]

    @pytest.mark.parametrize('grad', [True, False])  # the autograd path and the no-grad (inference) path
    def test_non_finite_inputs_match_the_plain_formula(self, grad):
        """NaN stays NaN and infinities clamp, in the kernel's vector body (not only its scalar tail)."""
        x = torch.randn(64) * 4
        x[[3, 17, 40]] = torch.tensor([float('nan'), float('inf'), -float('inf')])
        expected = torch.round(x.clamp(0, 4)) / 4
        x.requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            out = sfa(x, D=4)
        assert torch.equal(out.isnan(), expected.isnan()) and out.isnan().sum() == 1
        assert torch.equal(out.nan_to_num(-1), expected.nan_to_num(-1))
        if grad:
            out.nansum().backward()
            inside = ((x >= 0) & (x <= 4)).float() / 4
            assert torch.equal(x.grad, inside)

    @pytest.mark.parametrize('D', [127, 128, 300])  # 127: the largest D whose levels fit the code byte
    def test_large_ceilings(self, D):
        x = torch.tensor([-1.0, 0.0, 0.5, D - 0.5, float(D), D + 0.25], requires_grad=True)
        out = sfa(x, D=D, norm=1, tie='up')
        assert out.tolist() == [0, 0, 1, D, D, D]
        out.sum().backward()
        assert x.grad.tolist() == [0, 1, 1, 1, 1, 0]

    def test_each_parameter_set_is_compiled_with_its_constants(self):
        """Parameters are compile-time constants (a graph each); more sets than dynamo's default limit of 8 are
        still compiled rather than sent back to eager code."""
        from torch._dynamo.utils import counters

        from spikeformer_mm.ops import kernels
        if kernels.sfa_forward_kernel.disabled:
            pytest.skip('torch.compile is off (SPIKEFORMER_COMPILE=0)')
        x = torch.rand(64) * 6
        graphs = counters['stats']['unique_graphs']
        norms = [1.5 + i for i in range(10)]
        with torch.no_grad():
            for norm in norms:
                expected = torch.round(x.clamp(0, 5)) / norm
                assert torch.equal(sfa(x, D=5, norm=norm), expected)  # the kernel that serves this tensor
                assert torch.equal(kernels.sfa_forward_kernel(x, 5, norm, False, False, False, True, False)[0],
                                   expected)
        assert counters['stats']['unique_graphs'] - graphs == len(norms)

    @pytest.mark.parametrize('kwargs, message', [(dict(D=0), 'D >= 1'), (dict(D=2.5), 'D >= 1'),
                                                 (dict(D=4, norm=0), 'norm > 0')])
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            SFANeuron(**kwargs)
        if 'norm' not in kwargs and isinstance(kwargs['D'], int):
            with pytest.raises(ValueError, match=message):
                sfa(torch.zeros(2), **kwargs)


class TestSpikeExpansion:

    def test_planes_are_binary_and_sum_to_levels(self):
        levels = torch.tensor([[0., 1., 2.], [3., 4., 2.]])
        planes = expand_to_spikes(levels, D=4)
        assert planes.shape == (4, 2, 3)
        assert set(planes.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(planes.sum(0), levels)
        assert planes[:, 1, 0].tolist() == [1, 1, 1, 0]  # the first s virtual steps fire

    @pytest.mark.parametrize('levels, D', [([0.5, 1.0], 4), ([5.0], 4), ([-1.0], 4), ([1.0], 0)])
    def test_rejects_non_levels(self, levels, D):
        with pytest.raises(ValueError, match='levels|D >= 1'):
            expand_to_spikes(torch.tensor(levels), D)

    @pytest.mark.parametrize('layer, shape', [
        (nn.Conv2d(6, 5, 3, stride=2, padding=1), (2, 6, 9, 7)),
        (nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False), (2, 6, 8, 8)),
        (nn.Conv1d(6, 4, 1), (3, 6, 10)),
        (nn.Linear(6, 3), (4, 6)),
    ])
    @pytest.mark.parametrize('D, norm', [(4, None), (4, 1.0), (8, None)])
    def test_binary_passes_equal_integer_path(self, layer, shape, D, norm):
        torch.manual_seed(0)
        levels = SFANeuron(D=D, norm=1)(torch.randn(shape) * D)
        expected = layer(levels / (D if norm is None else norm))
        out = spike_driven_forward(layer, levels, D, norm)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)

    def test_synaptic_op_sees_only_binary_inputs(self):
        seen = []
        conv = nn.Conv2d(3, 4, 3, padding=1)
        conv.register_forward_hook(lambda module, args, out: seen.append(args[0]))
        levels = SFANeuron(D=4, norm=1)(torch.randn(2, 3, 5, 5) * 4)
        spike_driven_forward(conv, levels, 4)
        assert len(seen) == 1 and seen[0].shape == (8, 3, 5, 5)
        assert set(seen[0].unique().tolist()) == {0.0, 1.0}

    def test_rejects_unsupported_layers(self):
        with pytest.raises(TypeError, match='supports nn.Linear'):
            spike_driven_forward(nn.BatchNorm2d(3), torch.zeros(1, 3, 2, 2), 4)


class TestBuildNeuron:

    def test_builds_by_config_with_overrides(self):
        lif = build_neuron(dict(type='MultiStepLIF'), v_threshold=0.5)
        assert isinstance(lif, MultiStepLIF) and lif.v_threshold == 0.5
        neuron = build_neuron(dict(type='spikeformer_mm.SFANeuron', D=8))
        assert isinstance(neuron, SFANeuron) and neuron.D == 8 and neuron.norm == 8

    def test_config_is_not_mutated(self):
        cfg = dict(type='SFANeuron', D=4)
        build_neuron(cfg, norm=1)
        assert cfg == dict(type='SFANeuron', D=4)

    @pytest.mark.parametrize('cfg, message', [(dict(type='NoSuchNeuron'), 'unknown neuron type'),
                                              (dict(D=4), "'type' key"), ('SFANeuron', "'type' key")])
    def test_bad_configs(self, cfg, message):
        with pytest.raises(ValueError, match=message):
            build_neuron(cfg)
