"""Energy counter: exact hand-computed counts, the reference MAC counts, T and spike-driven invariances."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from spikeformer_mm.energy import EnergyCounter, build_report, compute_costs, merge_states, save_csv, save_json
from spikeformer_mm.models.backbones import ESpikeFormer
from spikeformer_mm.models.layers import fold_time
from spikeformer_mm.ops import MultiStepLIF, SFANeuron, SpikeMatMul

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'


class HandModel(nn.Module):
    """Tiny time-major model whose spikes are known exactly (per frame, for the input ``[3, 0, 3, 3]``).

    enc (real input, 4x4 MACs) -> LIF: spikes s = [1, 0, 1, 1] at every step (constant 3 >= 2 fires each step)
    fc   (4->8, spikes 3/4):  h = [0, 1, 2, 3, 4, 4, 1, 0] -> SFA(D=4): levels h, mean 15/8
    head (8->2 on SFA levels/4);  matmul levels[2x4] @ s[4x1]: both spikes, events 5 + 5 = 10
    fc_a (4->8 on spikes) -> BN -> fc_chain (8->3): an affine chain of the spikes (rate 3/4)
    """

    def __init__(self, T: int):
        super().__init__()
        self.T = T
        self.enc = nn.Linear(4, 4, bias=False)
        self.lif = MultiStepLIF()
        self.fc = nn.Linear(4, 8, bias=False)
        self.sfa = SFANeuron(D=4)
        self.head = nn.Linear(8, 2)
        self.matmul = SpikeMatMul()
        self.fc_a = nn.Linear(4, 8)
        self.bn = nn.BatchNorm1d(8)
        self.fc_chain = nn.Linear(8, 3)
        with torch.no_grad():
            self.enc.weight.copy_(torch.eye(4))
            self.fc.weight.zero_()
            self.fc.weight[:, 0] = torch.tensor([0., 1., 2., 3., 4., 4., 1., 0.])

    def forward(self, x):  # x: [B, 4]
        x = x.unsqueeze(0).expand(self.T, *x.shape).contiguous()
        s = self.lif(fold_time(self.enc, x))
        q = self.sfa(fold_time(self.fc, s))
        logits = fold_time(self.head, q)
        T, B = s.shape[:2]
        events = self.matmul(q.view(T, B, 2, 4), s.view(T, B, 4, 1))
        chain = fold_time(self.fc_chain, fold_time(self.bn, fold_time(self.fc_a, s)))
        return logits, events, chain


def count(model, *inputs, **counter_args) -> dict:
    with torch.no_grad(), EnergyCounter(model, **counter_args) as counter:
        model(*inputs)
    return counter.state()


def hand_state(T: int, **counter_args) -> dict:
    model = HandModel(T).eval()
    return count(model, torch.tensor([[3., 0., 3., 3.]] * 2), **counter_args)


@pytest.mark.parametrize('T', [1, 2])
def test_hand_built_model_counts_exactly(T):
    report = build_report(hand_state(T))
    layers = {row['name']: row for row in report['layers']}
    assert report['images'] == 2 and report['time_steps'] == T
    # MACs per image per step: 16 + 32 + 16 + 8 + 32 + 24
    assert {n: r['macs'] for n, r in layers.items()} == dict(enc=16, fc=32, head=16, matmul=8, fc_a=32,
                                                             fc_chain=24)
    expected_sops = dict(fc=32 * 0.75, head=16 * 15 / 8, matmul=10, fc_a=32 * 0.75, fc_chain=24 * 0.75)
    for name, sops in expected_sops.items():
        assert layers[name]['sops'] == pytest.approx(T * sops, rel=1e-6), name
    assert [layers[n]['input'] for n in ('enc', 'fc', 'head', 'matmul', 'fc_chain')] == \
        ['real', 'spikes', 'integer', 'integer x spikes', 'affine(spikes)']
    assert layers['head']['input_activation'] == pytest.approx(15 / 8)
    # the static image repeated over T is encoded once
    assert report['macs_real_input'] == 16 and layers['enc']['mac_ops'] == 16
    assert report['macs_total'] == 128
    assert report['sops_total'] == pytest.approx(T * 106)
    assert report['energy_mJ'] == pytest.approx((4.6 * 16 + 0.9 * 106 * T) * 1e-9, rel=1e-6)
    neurons = {row['name']: row for row in report['neurons']}
    assert neurons['lif']['firing_rate'] == 0.75 and neurons['lif']['firing_rate_per_step'] == [0.75] * T
    assert neurons['sfa']['mean_level'] == 15 / 8
    assert neurons['sfa']['level_hist'] == [2 / 8, 2 / 8, 1 / 8, 1 / 8, 2 / 8]
    assert report['firing_rate_mean'] == pytest.approx((3 + 15 / 4) / 12)


def test_doubling_T_doubles_sops_for_the_same_firing_rates():
    one, two = build_report(hand_state(1)), build_report(hand_state(2))
    assert [n['firing_rate'] for n in one['neurons']] == [n['firing_rate'] for n in two['neurons']]
    assert two['sops_total'] == pytest.approx(2 * one['sops_total'], rel=1e-9)
    assert two['macs_total'] == one['macs_total'] and two['macs_real_input'] == one['macs_real_input']


def test_without_folding_affine_chains_are_macs():
    report = build_report(hand_state(1, fold_affine=False))
    chain = next(row for row in report['layers'] if row['name'] == 'fc_chain')
    assert chain['input'] == 'real' and chain['sops'] == 0 and chain['mac_ops'] == 24
    assert report['macs_real_input'] == 16 + 24


def test_presets_and_overrides():
    state = hand_state(1)
    int8 = build_report(state, preset='horowitz45nm_int8')
    assert int8['energy_mJ'] == pytest.approx((0.23 * 16 + 0.03 * 106) * 1e-9)
    custom = build_report(state, e_mac=1.0, e_ac=0.0)
    assert custom['energy_mJ'] == pytest.approx(16e-9)
    with pytest.raises(KeyError, match='unknown compute energy preset .*valid presets: horowitz45nm_fp32'):
        compute_costs('45nm')
    with pytest.raises(ValueError, match='e_ac must be >= 0 pJ'):
        compute_costs(e_ac=-1)
    with pytest.raises(ValueError, match='saw no images'):
        build_report(EnergyCounter(HandModel(1)).state())
    with pytest.raises(ValueError, match='time_steps must be a positive int'):
        EnergyCounter(HandModel(1), time_steps=0)


def test_merged_states_equal_one_run_over_all_images():
    a, b = hand_state(2), hand_state(2)
    merged = build_report(merge_states([a, b]))
    single = build_report(a)
    assert merged['images'] == 4
    for key in ('macs_total', 'sops_total', 'energy_mJ', 'firing_rate_mean'):
        assert merged[key] == pytest.approx(single[key])


def test_detached_counter_leaves_no_hooks_and_reports_are_written(tmp_path):
    model = HandModel(1).eval()
    with torch.no_grad(), EnergyCounter(model, memory=True) as counter:
        model(torch.tensor([[3., 0., 3., 3.]]))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    report = build_report(counter.state())
    # memory term: weights read per spike-triggered use (fc: 3 of 4 inputs fire -> 3 x 8 weights), LIF state
    fc = next(row for row in report['layers'] if row['name'] == 'fc')
    assert fc['memory_bytes'] == 3 * 8 * 4
    lif = next(row for row in report['neurons'] if row['name'] == 'lif')
    assert lif['memory_bytes'] == 2 * 4 * 4
    assert report['memory']['energy_mJ'] > 0 and report['energy_mJ'] == build_report(hand_state(1))['energy_mJ']
    save_json(report, str(tmp_path / 'r.json'))
    save_csv(report, str(tmp_path / 'r.csv'))
    assert json.loads((tmp_path / 'r.json').read_text())['layers'][0]['name'] == 'enc'
    assert (tmp_path / 'r.csv').read_text().splitlines()[0].startswith('group,name,type,input,macs')


def active_e_spikeformer() -> ESpikeFormer:
    """A tiny E-SpikeFormer whose BN statistics keep every stage firing (default init is nearly silent)."""
    torch.manual_seed(0)
    model = ESpikeFormer(arch=dict(embed_dims=(16, 32, 64, 96))).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.02, 0.1)
    return model


def test_spike_driven_and_integer_modes_report_the_same_sops():
    model = active_e_spikeformer()
    x = torch.randn(2, 3, 32, 32)
    integer = build_report(count(model, x))
    model.spike_driven = True
    spiking = build_report(count(model, x))
    assert integer['sops_total'] > 1e5
    assert spiking['sops_total'] == pytest.approx(integer['sops_total'], rel=1e-6)
    assert spiking['energy_mJ'] == pytest.approx(integer['energy_mJ'], rel=1e-6)
    kinds = {row['name']: row['input'] for row in spiking['layers']}
    assert kinds['stages.0.downsample.conv'] == 'real'
    assert set(kinds.values()) == {'real', 'spikes', 'spikes x spikes'}  # binary planes everywhere else
    assert {row['input'] for row in integer['layers']} == {'real', 'integer', 'integer x integer'}


def classifier(config: str):
    cfg = Config.fromfile(str(CONFIGS / config))
    init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model).eval()


@pytest.mark.parametrize('config, total, encoding, attention', [
    ('meta_spikeformer/meta-spikeformer-15m_8xb128-lamb-200e_in1k.py', 6.47, 0.059, 0.032),
    ('meta_spikeformer/meta-spikeformer-55m_8xb128-lamb-200e_in1k.py', 24.82, 0.118, 0.117),
    ('e_spikeformer/e-spikeformer-10m_8xb256-lamb-200e_in1k.py', 4.25, 0.044, 0.314),
    ('e_spikeformer/e-spikeformer-19m_8xb256-lamb-200e_in1k.py', 7.63, 0.059, 0.433),
])
def test_mac_counts_match_the_reference_at_224(config, total, encoding, attention):
    """MACs per image per step at 224x224, T=1 (convs, linears, attention matmuls), as counted with forward hooks on
    the reference models (V2 classification/models.py, V3 SDT_V3/Classification/Model_Base/models.py)."""
    torch.manual_seed(0)
    model = classifier(config)
    report = build_report(count(model, torch.randn(1, 3, 224, 224), fold_affine=False))
    rows = report['layers']
    assert report['time_steps'] == 1
    assert report['macs_total'] / 1e9 == pytest.approx(total, rel=0.01)
    assert rows[0]['name'] == 'backbone.stages.0.downsample.conv' and rows[0]['input'] == 'real'
    assert rows[0]['macs'] / 1e9 == pytest.approx(encoding, rel=0.01)
    assert sum(r['macs'] for r in rows if r['type'] == 'matmul') / 1e9 == pytest.approx(attention, rel=0.01)


def test_affine_chain_ends_at_a_nonlinearity_even_in_place():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)).eval()
    spikes = torch.tensor([[1., 0., 1., 1.]])
    report = build_report(count(model, spikes))
    assert [row['input'] for row in report['layers']] == ['spikes', 'real']
    without_relu = build_report(count(nn.Sequential(model[0], model[2]), spikes))
    assert [row['input'] for row in without_relu['layers']] == ['spikes', 'affine(spikes)']


def test_sfa_histogram_is_sampled_on_large_outputs_and_the_mean_stays_exact():
    torch.manual_seed(0)
    model = nn.Sequential(SFANeuron(D=4), nn.Linear(64, 1, bias=False)).eval()
    x = torch.randint(0, 5, (4096, 64)).float() * torch.tensor([1.0, 0.0]).repeat(32)  # odd columns silent
    exact = build_report(count(model, x, hist_samples=None))
    sampled = build_report(count(model, x))  # 262144 elements: a strided sample of ~4096
    levels = x.flatten()
    expected = [float((levels == k).float().mean()) for k in range(5)]
    assert exact['neurons'][0]['level_hist'] == pytest.approx(expected, abs=1e-7)
    assert sampled['neurons'][0]['level_hist'] == pytest.approx(expected, abs=0.01)
    assert sampled['neurons'][0]['mean_level'] == exact['neurons'][0]['mean_level'] == pytest.approx(
        float(levels.mean()))
    assert sampled['sops_total'] == exact['sops_total'] == pytest.approx(64 * float(levels.mean()))  # per row
