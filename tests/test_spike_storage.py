"""Spikes saved for backward are kept in 1 byte and restored bit-exactly."""
import pytest
import torch
from torch import nn

from spikeformer_mm.ops import MultiStepLIF, SFANeuron, compact_spike_storage, mark_spikes
from spikeformer_mm.ops.spike_storage import pack_saved_tensor, unpack_saved_tensor


def test_marked_spikes_and_their_views_pack_to_uint8_exactly():
    spikes = MultiStepLIF()(torch.randn(2, 3, 4, 5) * 3)
    packed = pack_saved_tensor(spikes.flatten(0, 1))
    assert packed[0].dtype == torch.uint8
    assert torch.equal(unpack_saved_tensor(packed), spikes.flatten(0, 1))
    levels = SFANeuron(D=3)(torch.randn(4, 6) * 3)  # values k/3: not exactly representable
    packed = pack_saved_tensor(levels)
    assert packed[0].dtype == torch.uint8 and torch.equal(unpack_saved_tensor(packed), levels)


def test_unmarked_tensors_are_left_alone():
    x = torch.randn(3, 4)
    assert pack_saved_tensor(x) is x and unpack_saved_tensor(x) is x
    relu_out = torch.relu(x)
    assert pack_saved_tensor(relu_out) is relu_out


def _lif_conv_grads(compact: bool, neuron):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 5, 3, padding=1)
    x = (torch.randn(3, 2, 4, 6, 6) * 3).requires_grad_()
    with compact_spike_storage(compact):
        out = conv(neuron(x).flatten(0, 1))
    out.square().sum().backward()
    return x.grad, conv.weight.grad


def test_gradients_identical_with_compact_storage():
    for neuron in (MultiStepLIF(), SFANeuron(D=4)):
        plain = _lif_conv_grads(False, neuron)
        compact = _lif_conv_grads(True, neuron)
        for a, b in zip(plain, compact):
            assert torch.equal(a, b)


def test_saved_spikes_really_are_stored_in_one_byte():
    stored = []

    def pack(t):
        packed = pack_saved_tensor(t)
        stored.append(packed[0].dtype if isinstance(packed, tuple) else t.dtype)
        return packed

    conv = nn.Conv2d(4, 5, 1)
    x = torch.randn(2, 1, 4, 3, 3, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack_saved_tensor):
        conv(MultiStepLIF()(x).flatten(0, 1)).sum().backward()
    assert torch.uint8 in stored  # the conv's saved input


def test_views_of_spikes_are_stored_as_views_of_the_neurons_own_uint8_levels():
    """The neurons write their uint8 levels in the forward pass; packing a (strided) view re-uses them."""
    for neuron in (MultiStepLIF(), SFANeuron(D=4)):
        spikes = neuron((torch.randn(2, 3, 8, 5) * 3).requires_grad_())
        owner = spikes if spikes._base is None else spikes._base
        own_levels = getattr(owner, '_spikeformer_spike_levels')
        view = spikes.transpose(-1, -2)[..., 1:4, :]
        packed = pack_saved_tensor(view)
        assert packed[0].untyped_storage().data_ptr() == own_levels.untyped_storage().data_ptr()
        assert torch.equal(unpack_saved_tensor(packed), view)


@pytest.mark.parametrize('rules, levels, window', [
    (dict(), [0, 0, 0, 0, 2, 4, 4, 4], [0, 1, 1, 1, 1, 1, 1, 0]),  # Model_Base: ties to even, 0 <= x <= D
    (dict(tie='up', window='strict'), [0, 0, 0, 1, 3, 4, 4, 4], [0, 0, 1, 1, 1, 1, 0, 0]),  # Model_Large
])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])  # the C++ kernel, the compiled one
def test_sfa_code_byte_holds_the_level_above_the_gradient_window_bit(rules, levels, window, dtype):
    x = torch.tensor([-0.5, 0.0, 0.49, 0.5, 2.5, 3.99, 4.0, 4.7], dtype=dtype, requires_grad=True)
    out = SFANeuron(D=4, **rules)(x)
    code = getattr(out if out._base is None else out._base, '_spikeformer_spike_levels')
    assert code.dtype == torch.uint8
    assert (code >> 1).tolist() == levels
    assert (code & 1).tolist() == window
    restored = unpack_saved_tensor(pack_saved_tensor(out))
    assert restored.dtype == dtype and torch.equal(restored, out)


def test_neurons_keep_no_uint8_copy_without_grad():
    with torch.no_grad():
        spikes = MultiStepLIF()(torch.randn(2, 3, 4))
    owner = spikes if spikes._base is None else spikes._base
    assert not hasattr(owner, '_spikeformer_spike_levels')


def test_levels_that_do_not_match_the_spikes_are_rejected():
    spikes = torch.zeros(2, 3)
    with pytest.raises(ValueError, match='levels must be a contiguous uint8 tensor with the 6 elements'):
        mark_spikes(spikes, levels=torch.zeros(2, 3))  # float, not uint8
    with pytest.raises(ValueError, match='with the 6 elements'):
        mark_spikes(spikes, levels=torch.zeros(5, dtype=torch.uint8))
    with pytest.raises(ValueError, match='level_shift must be in'):
        mark_spikes(spikes, levels=torch.zeros(2, 3, dtype=torch.uint8), level_shift=8)
