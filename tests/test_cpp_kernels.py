"""The C++ SFA kernels: built on this machine, bit-identical to the PyTorch kernels, selected for float32 CPU."""
import pytest
import torch

from spikeformer_mm.ops import cpp_kernels, kernels, sfa

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


def test_the_extension_builds_here():
    assert cpp_kernels.sfa_module() is not None
    assert cpp_kernels.sfa_module_for(torch.zeros(2)) is cpp_kernels.sfa_module()
    assert cpp_kernels.sfa_module_for(torch.zeros(2, dtype=torch.float64)) is None


@pytest.mark.parametrize('n', [5, 16, 1007, 100003])  # scalar tail only, one vector, tails, several threads' tasks
@pytest.mark.parametrize('D, norm', [(4, 4.0), (4, 1.0), (8, 3.0), (127, 127.0), (300, 1.0)])
def test_forward_and_backward_equal_the_pytorch_kernels(n, D, norm):
    module = cpp_kernels.sfa_module()
    x = special_inputs(n, D)
    exact = kernels.is_power_of_two(norm)
    has_levels = D <= kernels.SFA_CODE_MAX_D
    for with_code in (False, True):
        out, code = kernels.sfa_forward(x, D, norm, with_code, has_levels, exact)
        results = module.sfa_forward(x, D, norm, with_code, has_levels, exact)
        assert torch.equal(results[0].nan_to_num(-7), out.nan_to_num(-7))
        assert torch.equal(results[0].isnan(), out.isnan())
        if with_code:
            assert torch.equal(results[1], code)
    grad = torch.randn(n)
    grad[:: max(n // 5, 1)] = float('inf')  # inf * (outside the window) is NaN in both
    expected = kernels.sfa_backward(grad, code, norm, exact)
    got = module.sfa_backward(grad, code, norm, exact)
    assert torch.equal(got.nan_to_num(-7), expected.nan_to_num(-7)) and torch.equal(got.isnan(), expected.isnan())


def test_neuron_gradients_match_on_the_cpp_and_the_compiled_path():
    x = special_inputs(4099, 4).requires_grad_()
    x64 = x.detach().double().requires_grad_()  # float64 is not a C++ dtype: the torch.compile'd kernel serves it
    out, out64 = sfa(x), sfa(x64)
    assert torch.equal(out.double().nan_to_num(-7), out64.nan_to_num(-7))
    out.nansum().backward()
    out64.nansum().backward()
    assert torch.equal(x.grad.double(), x64.grad)


def test_bad_inputs_name_the_problem():
    module = cpp_kernels.sfa_module()
    with pytest.raises(RuntimeError, match='contiguous'):
        module.sfa_forward(torch.zeros(4, 4).t(), 4, 4.0, False, False, True)
    with pytest.raises(RuntimeError, match='Double'):
        module.sfa_forward(torch.zeros(4, dtype=torch.float64), 4, 4.0, False, False, True)
    with pytest.raises(RuntimeError, match='as many elements'):
        module.sfa_backward(torch.zeros(4), torch.zeros(3, dtype=torch.uint8), 4.0, True)


def test_environment_and_isa_selection(monkeypatch):
    monkeypatch.setenv('SPIKEFORMER_CPP', '0')
    assert not cpp_kernels.enabled()
    monkeypatch.setenv('SPIKEFORMER_CPP', '1')
    monkeypatch.setenv('SPIKEFORMER_COMPILE', '0')
    assert not cpp_kernels.enabled()
    assert '-DCPU_CAPABILITY_AVX512' in cpp_kernels.isa_flags('AVX512')
    assert '-DCPU_CAPABILITY_AVX2' in cpp_kernels.isa_flags('AVX2')
    assert cpp_kernels.isa_flags('DEFAULT') == []


def test_a_torch_compiled_model_traces_the_pytorch_kernel():
    """Inside ``torch.compile`` the neuron is traced through the PyTorch kernel (dynamo cannot see into C++)."""
    from spikeformer_mm.ops import SFANeuron
    neuron = SFANeuron(D=4)
    x = special_inputs(999, 4).requires_grad_()
    x_compiled = x.detach().clone().requires_grad_()
    out, out_compiled = neuron(x), torch.compile(neuron, fullgraph=True)(x_compiled)
    assert torch.equal(out.nan_to_num(-7), out_compiled.nan_to_num(-7))
    out.nansum().backward()
    out_compiled.nansum().backward()
    assert torch.equal(x.grad, x_compiled.grad)


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
    monkeypatch.setattr(cpp_kernels, '_tried', False)  # as in a fresh process
    monkeypatch.setattr(cpp_kernels, '_module', None)
    x = special_inputs(100, 4)
    with pytest.warns(UserWarning, match='building the C\\+\\+ SFA kernels failed .*no C\\+\\+ compiler'):
        out = sfa(x)
    assert cpp_kernels.sfa_module_for(x) is None
    assert torch.equal(out.nan_to_num(-7), (torch.floor(x.clamp(0, 4) + 0.5) / 4).nan_to_num(-7))
