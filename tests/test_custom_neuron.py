"""A user's own spiking neuron: registered, built into a backbone by ``neuron_cfg``, counted by the energy counter
and replaced in the ANN twin, all through the :class:`SpikingNeuron` base class."""
import copy

import pytest
import torch
from torch import nn

from spikeformer_mm.benchmark import ann_twin, describe_neuron_backend
from spikeformer_mm.energy import EnergyCounter
from spikeformer_mm.models.backbones import MetaSpikeFormer
from spikeformer_mm.ops import MultiStepLIF, SFANeuron, SpikingNeuron, build_neuron
from spikeformer_mm.registry import MODELS

T = 2


@MODELS.register_module()
class SoftResetIFNeuron(SpikingNeuron, multi_step=True):
    """Integrate-and-fire neuron with soft reset (no leak): ``v += x[t]``; fire where ``v >= v_threshold``, then
    subtract the threshold. ``[T, ...]`` -> binary spikes ``[T, ...]``; no gradient (inference only)."""

    def __init__(self, v_threshold: float = 1.0):
        super().__init__()
        self.v_threshold = v_threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(x[0])
        spikes = []
        for x_t in x:
            v = v + x_t
            spike = (v >= self.v_threshold).to(x.dtype)
            v = v - spike * self.v_threshold
            spikes.append(spike)
        return torch.stack(spikes)

    def ann_equivalent(self) -> nn.Module:
        return nn.Hardtanh(0.0, self.v_threshold)


@MODELS.register_module()
class TernaryNeuron(SpikingNeuron):
    """Stateless neuron with levels 0, 1, 2 scaled by 1/2 (what the base class's ``D`` and ``norm`` describe)."""
    D = 2
    norm = 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x.clamp(0, 2)) / 2


@MODELS.register_module()
class NotANeuron(nn.Module):

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_the_class_keyword_sets_multi_step():
    assert SoftResetIFNeuron.multi_step and MultiStepLIF.multi_step
    assert not SFANeuron.multi_step and not TernaryNeuron.multi_step and not SpikingNeuron.multi_step
    assert (MultiStepLIF().D, MultiStepLIF().norm) == (1, 1.0)
    assert (SFANeuron(D=4, norm=1).D, SFANeuron(D=4, norm=1).norm) == (4, 1.0)


def test_build_neuron_needs_a_spiking_neuron():
    neuron = build_neuron(dict(type='SoftResetIFNeuron'), v_threshold=0.5)
    assert type(neuron) is SoftResetIFNeuron and neuron.v_threshold == 0.5
    with pytest.raises(TypeError, match="'NotANeuron' is not a spikeformer_mm.ops.SpikingNeuron: derive"):
        build_neuron(dict(type='NotANeuron'))


@pytest.fixture(scope='module')
def backbone():
    torch.manual_seed(0)
    model = MetaSpikeFormer(dict(embed_dims=[8, 16, 32, 48]), T=T, neuron_cfg=dict(type='SoftResetIFNeuron'))
    return model.eval()


def neurons_of(model):
    return {name: m for name, m in model.named_modules() if isinstance(m, SpikingNeuron)}


def test_the_counter_counts_every_user_neuron_and_the_layers_it_feeds(backbone):
    neurons = neurons_of(backbone)
    assert len(neurons) > 20 and all(type(m) is SoftResetIFNeuron for m in neurons.values())
    outputs = {}
    handles = [m.register_forward_hook(lambda m, args, out, name=name: outputs.setdefault(name, out.clone()))
               for name, m in neurons.items()]
    # the first 1x1 conv of the first block's SepConv: fed by the neuron of its SpikeConvBN
    conv_name = next(name for name, m in backbone.named_modules()
                     if name.endswith('sep_conv.pwconv1.conv') and isinstance(m, nn.Conv2d))
    conv = backbone.get_submodule(conv_name)
    conv_inputs = []
    handles.append(conv.register_forward_hook(lambda m, args, out: conv_inputs.append((args[0].clone(), out.numel()))))
    x = torch.randn(2, 3, 32, 32) * 2
    with torch.no_grad(), EnergyCounter(backbone) as counter:
        backbone(x)
    for handle in handles:
        handle.remove()
    state = counter.state()

    assert state['time_steps'] == T  # from the time axis of the multi-step neurons
    assert set(state['neurons']) == set(neurons)
    for name, out in outputs.items():
        stats = state['neurons'][name]
        assert (stats['type'], stats['D'], stats['calls'], stats['numel']) == ('SoftResetIFNeuron', 1, 1, out.numel())
        assert stats['level_sum'] == out.sum().item()
        assert stats['step_sums'] == out.reshape(T, -1).sum(1).tolist()
    assert 0 < sum(s['level_sum'] for s in state['neurons'].values()) < sum(o.numel() for o in outputs.values())

    (spikes, out_numel), = conv_inputs
    layer = state['layers'][conv_name]
    assert layer['inputs'] == ['spikes'] and layer['real_macs'] == 0
    macs = out_numel * conv.in_channels
    assert layer['macs'] == macs
    assert layer['sops'] == pytest.approx(macs * spikes.mean().item(), rel=1e-6)


def test_a_stateless_multi_level_user_neuron_gets_a_level_histogram():
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), TernaryNeuron(), nn.Conv2d(1, 2, 1, bias=False))
    nn.init.ones_(model[0].weight)
    x = torch.tensor([0.2, 0.7, 1.6, 3.0, 0.0, 1.2]).view(1, 1, 2, 3)  # levels 0, 1, 2, 2, 0, 1
    with torch.no_grad(), EnergyCounter(model, time_steps=1) as counter:
        model(x)
    state = counter.state()
    stats = state['neurons']['1']
    assert (stats['type'], stats['D'], stats['norm'], stats['numel']) == ('TernaryNeuron', 2, 2.0, 6)
    assert stats['level_sum'] == 6 and stats['hist'] == [2, 2, 2] and stats['step_sums'] is None
    assert state['layers']['2']['inputs'] == ['integer']
    assert state['layers']['2']['sops'] == 2 * 6  # 2 output channels x the 6 levels


def test_the_ann_twin_puts_each_neurons_ann_equivalent_in_its_place(backbone):
    model = copy.deepcopy(backbone)
    thresholds = {name: m.v_threshold for name, m in neurons_of(model).items()}
    params = sum(p.numel() for p in model.parameters())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        snn_feats = model(x)
    assert describe_neuron_backend(model, torch.device('cpu')) == \
        f'SoftResetIFNeuron x{len(thresholds)}: its own forward'

    assert ann_twin(model) is model
    assert not neurons_of(model)
    # each neuron's own equivalent: the attention's neurons fire at 0.5, the others at 1
    assert {name: m.max_val for name, m in model.named_modules() if isinstance(m, nn.Hardtanh)} == thresholds
    assert set(thresholds.values()) == {0.5, 1.0}
    assert sum(p.numel() for p in model.parameters()) == params
    with torch.no_grad():
        ann_feats = model(x)
    assert [f.shape for f in ann_feats] == [f.shape for f in snn_feats]
    assert describe_neuron_backend(model, torch.device('cpu')) == 'none (no spiking neuron)'
