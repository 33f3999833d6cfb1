"""The C++ SFA and LIF kernels: built on this machine, equal to the PyTorch kernels, selected for float32 CPU."""
import pytest
import torch

from spikeformer_mm.ops import MultiStepLIF, cpp_kernels, kernels, sfa

pytestmark = pytest.mark.skipif(not cpp_kernels.enabled(), reason='C++ kernels turned off by the environment')


def special_inputs(n: int, D: int) -> torch.Tensor:
    """Random levels around [0, D] with exact halves, NaN, infinities and -0.0 inside vector bodies."""
    torch.manual_seed(n)
    x = torch.randn(n) * D * 0.6 + D / 2
    x[::7] = torch.randint(-2, 2 * D + 3, x[::7].shape).float() / 2  # exact halves and the bounds 0 and D
    specials = torch.tensor([float('nan'), float('inf'), -float('inf'), -0.0, 0.0, float(D)])
    idx = torch.arange(len(specials)) * 17 % n
    x[idx] = specials[: len(idx)]
    return x


@pytest.mark.parametrize('kernel', cpp_kernels.KERNELS)
def test_the_extensions_build_here(kernel):
    assert cpp_kernels.module(kernel) is not None
    assert cpp_kernels.module_for(kernel, torch.zeros(2)) is cpp_kernels.module(kernel)
    assert cpp_kernels.module_for(kernel, torch.zeros(2, dtype=torch.float64)) is None


def test_an_unknown_kernel_is_named():
    with pytest.raises(ValueError, match="kernel must be one of .*'relu'"):
        cpp_kernels.module('relu')


@pytest.mark.parametrize('n', [5, 16, 1007, 100003])  # scalar tail only, one vector, tails, several threads' tasks
@pytest.mark.parametrize('D, norm', [(4, 4.0), (4, 1.0), (8, 3.0), (127, 127.0), (300, 1.0)])
@pytest.mark.parametrize('tie_even, strict', [(True, False), (False, True), (True, True), (False, False)])
def test_forward_and_backward_equal_the_pytorch_kernels(n, D, norm, tie_even, strict):
    module = cpp_kernels.module('sfa')
    x = special_inputs(n, D)
    exact = kernels.is_power_of_two(norm)
    has_levels = D <= kernels.SFA_CODE_MAX_D
    for with_code in (False, True):
        out, code = kernels.sfa_forward(x, D, norm, with_code, has_levels, exact, tie_even, strict)
        results = module.sfa_forward(x, D, norm, with_code, has_levels, exact, tie_even, strict)
        assert torch.equal(results[0].nan_to_num(-7), out.nan_to_num(-7))
        assert torch.equal(results[0].isnan(), out.isnan())
        if with_code:
            assert torch.equal(results[1], code)
    grad = torch.randn(n)
    grad[:: max(n // 5, 1)] = float('inf')  # inf * (outside the window) is NaN in both
    expected = kernels.sfa_backward(grad, code, norm, exact)
    got = module.sfa_backward(grad, code, norm, exact)
    assert torch.equal(got.nan_to_num(-7), expected.nan_to_num(-7)) and torch.equal(got.isnan(), expected.isnan())


@pytest.mark.parametrize('n', [5, 16, 1007, 100003])
@pytest.mark.parametrize('shift, norm', [(1, 4.0), (1, 3.0), (0, 4.0), (1, 127.0), (3, 1.0)])
def test_restoring_stored_levels_equals_the_pytorch_kernel(n, shift, norm):
    torch.manual_seed(n)
    code = torch.randint(0, 256, (n,), dtype=torch.uint8)
    exact = kernels.is_power_of_two(norm)
    got = cpp_kernels.module('sfa').sfa_restore(code.view(1, -1), shift, norm, exact)
    assert got.shape == (1, n) and got.dtype == torch.float32
    assert torch.equal(got.view(-1), kernels.restore_levels(code, shift, norm, torch.float32, exact))


def test_compact_storage_restores_sfa_outputs_through_the_cpp_kernel(monkeypatch):
    from spikeformer_mm.ops import compact_spike_storage, spike_storage
    calls = []

    def spy(*args):
        calls.append(args)
        return kernels.restore_levels(*args)
    monkeypatch.setattr(spike_storage, 'restore_levels_kernel', spy)
    x = special_inputs(4099, 4).nan_to_num(0, 9, -9).requires_grad_()
    weight = torch.randn(4099, requires_grad=True)
    with compact_spike_storage():
        (sfa(x) * weight).sum().backward()
    assert torch.equal(weight.grad, sfa(x.detach()))  # restored from the code, bit for bit
    assert not calls  # the C++ pass restored it, not the torch.compile'd kernel
    with compact_spike_storage():  # a saved slice of the output: the PyTorch kernel serves it
        (sfa(x).view(-1, 1)[:4096].view(64, 64).t() * weight[:4096].view(64, 64)).sum().backward()
    assert len(calls) == 1


def test_a_permuted_view_of_sfa_output_is_restored_by_the_cpp_kernel_with_its_strides(monkeypatch):
    """An attention product saves its operand as a transposed view of a whole SFA output: the C++ pass restores
    the owner and views it as saved (same values, same strides); a view of part of it, or an overlapping one, is
    left to the PyTorch kernel."""
    from spikeformer_mm.ops import spike_storage
    calls = []

    def spy(*args):
        calls.append(args)
        return kernels.restore_levels(*args)
    monkeypatch.setattr(spike_storage, 'restore_levels_kernel', spy)
    x = special_inputs(2 * 3 * 40 * 24, 4).nan_to_num(0, 9, -9).view(2, 3, 40, 24).requires_grad_()
    out = sfa(x)
    saved = out.transpose(-1, -2).permute(1, 0, 2, 3)
    packed = spike_storage.pack_saved_tensor(saved)
    restored = spike_storage.unpack_saved_tensor(packed)
    assert not calls
    assert restored.stride() == saved.stride() and restored.shape == saved.shape and torch.equal(restored, saved)
    for view in (out[:, :2].transpose(-1, -2), out.view(-1)[:1].expand(5)):
        assert torch.equal(spike_storage.unpack_saved_tensor(spike_storage.pack_saved_tensor(view)), view)
    assert len(calls) == 2
    other = torch.randn(2, 3, 24, 24, requires_grad=True)
    grads = []
    for compact in (False, True):  # the product saves the transposed output: the same gradient either way
        x.grad = other.grad = None
        with spike_storage.compact_spike_storage(compact):
            (other @ sfa(x).transpose(-1, -2)).square().sum().backward()
        grads.append(other.grad.clone())
    assert torch.equal(grads[0], grads[1]) and len(calls) == 2


def test_neuron_gradients_match_on_the_cpp_and_the_compiled_path():
    x = special_inputs(4099, 4).requires_grad_()
    x64 = x.detach().double().requires_grad_()  # float64 is not a C++ dtype: the torch.compile'd kernel serves it
    out, out64 = sfa(x), sfa(x64)
    assert torch.equal(out.double().nan_to_num(-7), out64.nan_to_num(-7))
    out.nansum().backward()
    out64.nansum().backward()
    assert torch.equal(x.grad.double(), x64.grad)


LIF_PARAMS = [(2.0, True, True), (1.5, True, True), (2.0, False, False), (3.0, False, True), (4.0, True, False)]


def lif_inputs(T: int, n: int) -> torch.Tensor:
    """Membrane inputs around the threshold, with exact threshold crossings, NaN and infinities."""
    torch.manual_seed(T * n)
    x = torch.randn(T, n) * 1.5 + 0.8
    x.view(-1)[3::19] = 2.0  # H = 1.0 exactly at the first step (tau=2)
    x.view(-1)[::13] = float('nan')
    x.view(-1)[5::17] = float('inf')
    return x


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(-7), b.nan_to_num(-7))


@pytest.mark.parametrize('T', [1, 2, 4, 7])
@pytest.mark.parametrize('n', [5, 16, 1007, 100003])
@pytest.mark.parametrize('tau, decay_input, detach_reset', LIF_PARAMS)
@pytest.mark.parametrize('v_threshold, v_reset', [(1.0, 0.0), (0.7, -0.3)])  # the first step starts at v_reset
def test_lif_forward_equals_the_per_step_loop(T, n, tau, decay_input, detach_reset, v_threshold, v_reset):
    module, x, exact = cpp_kernels.module('lif'), lif_inputs(T, n), kernels.is_power_of_two(tau)
    spikes, levels = kernels.lif_forward(x, tau, v_threshold, v_reset, decay_input, True, exact)
    got_spikes, got_levels = module.lif_forward(x, tau, v_threshold, v_reset, decay_input, True, exact)
    assert torch.equal(got_spikes, spikes) and torch.equal(got_levels, levels)
    assert torch.equal(module.lif_forward(x, tau, v_threshold, v_reset, decay_input, False, exact)[0], spikes)


@pytest.mark.parametrize('T', [1, 4, 7])
@pytest.mark.parametrize('tau, decay_input, detach_reset', LIF_PARAMS)
def test_lif_backward_equals_the_compiled_kernel_and_the_per_step_loop(T, tau, decay_input, detach_reset):
    """Bit for bit against the compiled kernel on whole vectors (both use at::vec's exp; inductor's scalar tail
    uses libm's); to float rounding against the eager per-step loop (whose sigmoid is aten's) everywhere."""
    module, exact = cpp_kernels.module('lif'), kernels.is_power_of_two(tau)
    params = (tau, 1.0, 0.0, decay_input, detach_reset, 4.0, exact)
    for n in (1024, 1007):
        x, grad = lif_inputs(T, n), torch.randn(T, n)
        got = module.lif_backward(grad, x, None, None, *params)
        if n % 64 == 0 and not kernels.lif_backward_kernel.disabled:
            assert same(got, kernels.lif_backward_kernel(grad, x, None, None, *params))
        expected = kernels.lif_backward(grad, x, None, None, *params)
        assert torch.equal(got.isnan(), expected.isnan())
        torch.testing.assert_close(got.nan_to_num(-7), expected.nan_to_num(-7), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('T', [1, 4])
def test_lif_backward_recomputes_a_batch_norm_output_bit_for_bit(T):
    """With a BatchNorm's input and ``scale``/``shift`` the kernel equals itself on the transformed input."""
    module = cpp_kernels.module('lif')
    torch.manual_seed(T)
    B, C, HW = 3, 5, 37  # rows of 37 elements: channel boundaries inside vectors
    x, grad = torch.randn(T, B, C, HW), torch.randn(T, B, C, HW)
    scale, shift = torch.randn(C, 1), torch.randn(C, 1)
    params = (2.0, 1.0, 0.0, True, True, 4.0, True)
    transformed = kernels.batch_norm_transform(x, scale, shift)
    expected = module.lif_backward(grad, transformed, None, None, *params)
    assert torch.equal(module.lif_backward(grad, x, scale, shift, *params), expected)
    torch.testing.assert_close(expected, kernels.lif_backward(grad, x, scale, shift, *params), rtol=1e-6, atol=1e-7)


def test_bad_lif_inputs_name_the_problem():
    module, params = cpp_kernels.module('lif'), (2.0, 1.0, 0.0, True, True, 4.0, True)
    x = torch.zeros(4, 2, 3, 5)
    with pytest.raises(RuntimeError, match='same shape'):
        module.lif_backward(torch.zeros(4, 30), x, None, None, *params)
    with pytest.raises(RuntimeError, match='C = 3 elements'):
        module.lif_backward(x, x, torch.zeros(2), torch.zeros(2), *params)
    with pytest.raises(RuntimeError, match=r'\[T, B, C, HW\]'):
        module.lif_backward(x.view(4, 30), x.view(4, 30), torch.zeros(3), torch.zeros(3), *params)
    with pytest.raises(RuntimeError, match='scale and shift go together'):
        module.lif_backward(x, x, torch.zeros(3), None, *params)
    with pytest.raises(RuntimeError, match='T >= 1'):
        module.lif_forward(torch.zeros(0, 4), 2.0, 1.0, 0.0, True, False, True)
    with pytest.raises(RuntimeError, match='contiguous'):
        module.lif_forward(torch.zeros(5, 4).t(), 2.0, 1.0, 0.0, True, False, True)


def test_bad_inputs_name_the_problem():
    module = cpp_kernels.module('sfa')
    with pytest.raises(RuntimeError, match='contiguous'):
        module.sfa_forward(torch.zeros(4, 4).t(), 4, 4.0, False, False, True, True, False)
    with pytest.raises(RuntimeError, match='Double'):
        module.sfa_forward(torch.zeros(4, dtype=torch.float64), 4, 4.0, False, False, True, True, False)
    with pytest.raises(RuntimeError, match='as many elements'):
        module.sfa_backward(torch.zeros(4), torch.zeros(3, dtype=torch.uint8), 4.0, True)
    with pytest.raises(RuntimeError, match='level_shift must be in'):
        module.sfa_restore(torch.zeros(4, dtype=torch.uint8), 8, 4.0, True)
    with pytest.raises(RuntimeError, match='Float'):
        module.sfa_restore(torch.zeros(4), 1, 4.0, True)


def test_environment_and_isa_selection(monkeypatch):
    monkeypatch.setenv('SPIKEFORMER_CPP', '0')
    assert not cpp_kernels.enabled()
    monkeypatch.setenv('SPIKEFORMER_CPP', '1')
    monkeypatch.setenv('SPIKEFORMER_COMPILE', '0')
    assert not cpp_kernels.enabled()
    assert '-DCPU_CAPABILITY_AVX512' in cpp_kernels.isa_flags('AVX512')
    assert '-DCPU_CAPABILITY_AVX2' in cpp_kernels.isa_flags('AVX2')
    assert cpp_kernels.isa_flags('DEFAULT') == []


@pytest.mark.parametrize('kind', ['sfa', 'lif'])
def test_a_torch_compiled_model_traces_the_pytorch_kernel(kind):
    """Inside ``torch.compile`` the neuron is traced through the PyTorch kernel (dynamo cannot see into C++)."""
    from spikeformer_mm.ops import SFANeuron
    neuron = SFANeuron(D=4) if kind == 'sfa' else MultiStepLIF()
    x = (special_inputs(999, 4) if kind == 'sfa' else lif_inputs(3, 333)).requires_grad_()
    x_compiled = x.detach().clone().requires_grad_()
    out, out_compiled = neuron(x), torch.compile(neuron, fullgraph=True)(x_compiled)
    assert same(out, out_compiled)
    out.nansum().backward()
    out_compiled.nansum().backward()
    assert torch.equal(x.grad.isnan(), x_compiled.grad.isnan())
    torch.testing.assert_close(x.grad.nan_to_num(-7), x_compiled.grad.nan_to_num(-7), rtol=1e-6, atol=1e-7)


def test_the_virtualenvs_ninja_is_found_without_activation(monkeypatch, tmp_path):
    import os.path as osp
    import shutil
    import sys
    scripts = osp.dirname(sys.executable)
    if shutil.which('ninja', path=scripts) is None:
        pytest.skip("this interpreter's scripts directory has no ninja")
    monkeypatch.setenv('PATH', str(tmp_path))  # no ninja on PATH
    cpp_kernels.put_interpreters_ninja_on_path()
    assert shutil.which('ninja') == osp.join(scripts, 'ninja')


def test_a_failed_build_warns_and_leaves_the_pytorch_kernels(monkeypatch):
    import torch.utils.cpp_extension

    def no_compiler(**kwargs):
        raise RuntimeError('no C++ compiler')
    monkeypatch.setattr(torch.utils.cpp_extension, 'load', no_compiler)
    monkeypatch.setattr(cpp_kernels, '_modules', {})  # as in a fresh process
    x = special_inputs(100, 4)
    with pytest.warns(UserWarning, match='building the C\\+\\+ SFA kernels failed .*no C\\+\\+ compiler'):
        out = sfa(x)
    assert cpp_kernels.module_for('sfa', x) is None
    assert torch.equal(out.nan_to_num(-7), (torch.round(x.clamp(0, 4)) / 4).nan_to_num(-7))
    with pytest.warns(UserWarning, match='building the C\\+\\+ LIF kernels failed'):
        spikes = MultiStepLIF()(x.view(4, 25))
    assert torch.equal(spikes, kernels.lif_forward(x.view(4, 25), 2.0, 1.0, 0.0, True, False, True)[0])
