"""The spiking classifier head: spike-driven inference of its Linear layer on binary planes."""
import pytest
import torch

from spikeformer_mm.models.heads import SpikingLinearClsHead


def test_spike_driven_head_equals_integer_head_and_sees_only_binary_inputs():
    torch.manual_seed(0)
    head = SpikingLinearClsHead(num_classes=7, in_channels=12, neuron_cfg=dict(type='SFANeuron', D=4, norm=1))
    feats = (torch.randn(1, 5, 12) * 3,)
    expected = head(feats)
    seen = []
    head.fc.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    head.spike_driven = True
    out = head(feats)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert len(seen) == 1 and seen[0].shape == (4 * 5, 12)
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}


def test_spike_driven_needs_an_sfa_neuron():
    head = SpikingLinearClsHead(num_classes=3, in_channels=4, spike_driven=True)
    with pytest.raises(ValueError, match='needs an SFA neuron'):
        head((torch.randn(2, 3, 4),))
