"""Spike-driven inference of the E-SpikeFormer backbones: D binary planes per SFA activation, same outputs."""
import pytest
import torch
from torch import nn

import spikeformer_mm.converters.v3  # noqa: F401  (registers the 'v3' family)
from spikeformer_mm.converters import FAMILIES
from spikeformer_mm.converters.biclab import TARGETS, build_target
from spikeformer_mm.models.backbones import ESpikeFormer, ESpikeFormerLarge
from spikeformer_mm.ops import SpikeMatMul


@pytest.fixture(scope='module')
def reference(reference_dir):
    return torch.load(reference_dir / 'v3_base_reference_outputs.pt', weights_only=True)


@pytest.fixture(scope='module')
def classifier(reference):
    state_dict = FAMILIES['v3'](reference['state_dict'])
    model = build_target(TARGETS['v3'](state_dict))
    model.load_state_dict(state_dict, strict=True)
    return model


def is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def record_synaptic_inputs(model: nn.Module) -> dict:
    """Forward hooks on every Conv2d / Linear / SpikeMatMul after the encoding conv of a backbone or a classifier:
    name -> list of input tuples."""
    encoding = getattr(model, 'backbone', model).stages[0].downsample.conv
    seen = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, SpikeMatMul)) and module is not encoding:
            seen[name] = []
            module.register_forward_hook(lambda m, args, out, name=name: seen[name].append(args))
    return seen


# SpikeMatMuls whose operand at this index is the integer count of earlier binary products (Q K^T or K^T V);
# their other operand is a binary plane, so these products are additions only.
COUNT_OPERAND = {'attn_v_matmul': 0, 'qkv_matmul': 1}


def assert_only_spikes(seen: dict) -> None:
    for name, calls in seen.items():
        counts_at = next((i for suffix, i in COUNT_OPERAND.items() if name.endswith(suffix)), None)
        for args in calls:
            for i, arg in enumerate(args):
                if i == counts_at:
                    assert torch.equal(arg, arg.round()), name
                else:
                    assert is_binary(arg), name


def run(model, x, spike_driven):
    model.backbone.spike_driven = spike_driven
    model.head.spike_driven = spike_driven
    with torch.no_grad():
        return model(x)


def test_reference_logits_from_binary_spikes_only(classifier, reference):
    seen = record_synaptic_inputs(classifier)
    integer = run(classifier, reference['input'], spike_driven=False)
    integer_inputs = [args[0] for calls in seen.values() for args in calls]
    assert not all(is_binary(x) for x in integer_inputs)  # the integer path feeds levels k/4
    for calls in seen.values():
        calls.clear()

    spiking = run(classifier, reference['input'], spike_driven=True)
    torch.testing.assert_close(spiking, integer, rtol=0, atol=1e-4)
    torch.testing.assert_close(spiking, reference['logits'], rtol=0, atol=1e-4)
    assert all(len(calls) == 1 for calls in seen.values()), [n for n, c in seen.items() if len(c) != 1]
    assert_only_spikes(seen)
    names = set(seen)
    assert any(n.endswith('qk_matmul') for n in names) and any(n.endswith('mlp.fc2.conv') for n in names)
    assert 'head.fc' in names  # the classifier's Linear too


def test_switch_is_settable_on_a_built_model():
    model = ESpikeFormer(arch=dict(embed_dims=(16, 32, 64, 96)), spike_driven=True)
    assert all(m.spike_driven for m in model.modules() if hasattr(m, 'spike_driven'))
    model.spike_driven = False
    assert not any(m.spike_driven for m in model.modules() if hasattr(m, 'spike_driven'))


def test_spike_driven_needs_sfa_neurons():
    with pytest.raises(ValueError, match='needs SFA neurons'):
        ESpikeFormer(arch=dict(embed_dims=(16, 32, 64, 96)), neuron_cfg=dict(type='MultiStepLIF'),
                     spike_driven=True)


@pytest.mark.parametrize('rep_conv', [True, False])
def test_large_backbone_spike_driven_equals_integer_path_and_sees_only_spikes(rep_conv):
    torch.manual_seed(0)
    model = ESpikeFormerLarge(arch=dict(embed_dims=(16, 32, 64), depths=(1, 1, 1, 2), rep_conv=rep_conv),
                              layer_scale_init_value=1.0, out_indices=(0, 1, 2, 3)).eval()
    for module in model.modules():  # non-trivial BN statistics so the spikes take all levels
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.1, 0.5)
    x = torch.randn(2, 3, 32, 48)
    seen = record_synaptic_inputs(model)
    with torch.no_grad():
        integer = model(x)
        for calls in seen.values():
            calls.clear()
        model.spike_driven = True
        spiking = model(x)
    for a, b in zip(spiking, integer):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
    assert integer[-1].abs().max() > 0.1
    # every RepConv runs folded into its first conv, so its second conv is skipped; everything else sees spikes
    skipped = {name for name, calls in seen.items() if not calls}
    assert skipped == {name for name in seen if name.endswith('conv2.conv') and 'channel_conv' not in name}
    assert_only_spikes(seen)
    with pytest.raises(RuntimeError, match='needs eval mode'):
        model.train()(x)
