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


@pytest.mark.parametrize('spike_driven', [False, True])
def test_kd_linear_reads_the_same_spikes_and_eval_averages_the_two(spike_driven):
    """The V2 reference's ``head_kd``: a second Linear on the head's spikes; the logits are the two's average."""
    torch.manual_seed(0)
    head = SpikingLinearClsHead(num_classes=7, in_channels=12, neuron_cfg=dict(type='SFANeuron', D=4, norm=1),
                                with_kd=True, spike_driven=spike_driven)
    feats = (torch.randn(2, 5, 12) * 3,)
    spikes = head.pre_logits(feats)
    cls_logits, kd_logits = head.forward_with_kd(feats)
    torch.testing.assert_close(cls_logits, head.fc(spikes).mean(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(kd_logits, head.fc_kd(spikes).mean(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(head(feats), (cls_logits + kd_logits) / 2)


def test_forward_with_kd_needs_the_kd_linear():
    with pytest.raises(ValueError, match='with_kd=True'):
        SpikingLinearClsHead(num_classes=3, in_channels=4).forward_with_kd((torch.randn(2, 3, 4),))
