"""Energy report from an :class:`~spikeformer_mm.energy.EnergyCounter` state: totals, per-layer rows, files.

``E = E_MAC x MACs(real-valued inputs) + E_AC x SOPs``, per image, in mJ (pJ x 1e-9).
"""
import csv
import json
import os
from typing import List, Optional

from .presets import DEFAULT_COMPUTE, DEFAULT_MEMORY, compute_costs, memory_cost_per_byte

PJ_TO_MJ = 1e-9

ASSUMPTIONS = [
    'Energy = E_MAC x MACs of synaptic ops with real-valued input + E_AC x SOPs (the Spike-Driven Transformer '
    'papers\' method); all numbers are per image.',
    'Synaptic ops: Conv1d/2d/3d, ConvTranspose, Linear and SpikeMatMul attention products; MACs = output '
    'elements x fan-in on the tensors each op actually receives. BatchNorm is treated as folded into the '
    'preceding op and not counted; neurons, additions of residuals, pooling and resizing are not counted.',
    'macs_total is the MACs per image per time step (the model-size figure of the papers); layers fed by SFA '
    'levels expanded into binary planes (spike-driven mode) are executed D times and count D times there.',
    'SOPs = executed MACs x mean input level: binary spikes -> firing rate, summed over the T real time '
    'steps; SFA integer levels 0..D -> the level, i.e. D virtual binary steps. An attention product of two '
    'spike tensors counts its AND-accumulate events sum_ikj a_ik*b_kj (in levels).',
    'A layer fed by an affine function of spikes (conv -> BN/padding -> conv, e.g. RepConv or a depthwise '
    'conv followed by a pointwise conv) folds into one layer on the spikes at inference: its MACs are counted '
    'as SOPs at the spikes\' level (disable with fold_affine=False).',
    'A real-valued input repeated identically over the T time steps (direct encoding of a static image) is '
    'computed once: its MACs are counted once, not T times.',
    'firing_rate/mean is the element-weighted mean over all spiking neurons of spikes per neuron per (real '
    'or virtual) time step: LIF spikes, SFA level / D. SFA level histograms are taken over at most 4096 evenly '
    'strided elements per call (counter option hist_samples); mean levels and SOPs use every element.',
]

MEMORY_ASSUMPTION = ('Memory term (reported separately, not in energy_mJ): parameter reads from spikingjelly 2.x '
                     'NeuromorphicMemoryAccessCounter (weights read per spike-triggered use for binary inputs, '
                     'dense otherwise; bias per output) plus the membrane state of multi-step neurons (LIF), one '
                     'fp32 read and write per neuron and time step (SFA neurons are stateless), at the memory '
                     'preset\'s energy per byte.')


def _input_kind(layer: dict) -> str:
    if layer['real_macs'] == layer['macs']:
        return 'real'
    spiking = [kind for kind in layer['inputs'] if kind != 'real']
    kinds = '+'.join(spiking)
    return kinds if layer['real_macs'] == 0 else f'mixed(real+{kinds})'


def build_report(state: dict, preset: str = DEFAULT_COMPUTE, e_mac: Optional[float] = None,
                 e_ac: Optional[float] = None, memory_preset: str = DEFAULT_MEMORY) -> dict:
    """Per-image totals and per-layer rows from :meth:`EnergyCounter.state` (or merged states)."""
    images = state['images']
    if images < 1:
        raise ValueError('the energy counter saw no images: run the model while the counter is attached')
    T = state['time_steps']
    costs = compute_costs(preset, e_mac, e_ac)
    memory = state.get('memory_bytes')
    layers = []
    for name, s in state['layers'].items():
        if s['calls'] == 0:
            continue
        ac_macs = s['macs'] - s['real_macs']
        energy_pj = costs['e_mac'] * s['charged_macs'] + costs['e_ac'] * s['sops']
        row = dict(name=name, type=s['type'], input=_input_kind(s), macs=s['macs'] / (images * T),
                   input_activation=s['sops'] / ac_macs if ac_macs else None, sops=s['sops'] / images,
                   mac_ops=s['charged_macs'] / images, energy_mJ=energy_pj * PJ_TO_MJ / images, calls=s['calls'])
        if memory is not None:
            row['memory_bytes'] = memory.get(name, 0) / images
        layers.append(row)
    neurons = []
    for name, s in state['neurons'].items():
        if s['numel'] == 0:
            continue
        mean_level = s['level_sum'] / s['numel']
        row = dict(name=name, type=s['type'], D=s['D'], firing_rate=mean_level / s['D'], mean_level=mean_level,
                   level_hist=[count / sum(s['hist']) for count in s['hist']], numel=s['numel'] / images)
        if s['step_sums'] is not None:
            per_step = s['numel'] / len(s['step_sums'])
            row['firing_rate_per_step'] = [count / (per_step * s['D']) for count in s['step_sums']]
        if memory is not None:
            row['memory_bytes'] = memory.get(name, 0) / images
        neurons.append(row)
    spikes = sum(s['level_sum'] / s['D'] for s in state['neurons'].values())
    elements = sum(s['numel'] for s in state['neurons'].values())
    macs_real = sum(row['mac_ops'] for row in layers)
    sops = sum(row['sops'] for row in layers)
    report = dict(
        images=images, time_steps=T, preset=costs['preset'], e_mac_pJ=costs['e_mac'], e_ac_pJ=costs['e_ac'],
        macs_total=sum(row['macs'] for row in layers), macs_real_input=macs_real, sops_total=sops,
        energy_mJ=(costs['e_mac'] * macs_real + costs['e_ac'] * sops) * PJ_TO_MJ,
        energy_mac_mJ=costs['e_mac'] * macs_real * PJ_TO_MJ, energy_ac_mJ=costs['e_ac'] * sops * PJ_TO_MJ,
        firing_rate_mean=spikes / elements if elements else None,
        assumptions=list(ASSUMPTIONS), layers=layers, neurons=neurons, memory=None)
    if memory is not None:
        total = sum(memory.values()) / images
        report['memory'] = dict(preset=memory_preset, bytes=total,
                                energy_mJ=total * memory_cost_per_byte(memory_preset) * PJ_TO_MJ)
        report['assumptions'].append(MEMORY_ASSUMPTION)
    return report


def merge_states(states: List[dict]) -> dict:
    """Sum counter states of the same model from several processes (distributed evaluation)."""
    merged = json.loads(json.dumps(states[0]))
    for other in states[1:]:
        merged['images'] += other['images']
        merged['time_steps'] = max(merged['time_steps'], other['time_steps'])
        for group in ('layers', 'neurons'):
            for name, stats in other[group].items():
                mine = merged[group][name]
                for key in ('calls', 'macs', 'real_macs', 'charged_macs', 'sops', 'numel', 'level_sum'):
                    if key in stats:
                        mine[key] += stats[key]
                if 'inputs' in stats:
                    mine['inputs'] = sorted(set(mine['inputs']) | set(stats['inputs']))
                if 'hist' in stats:
                    mine['hist'] = [a + b for a, b in zip(mine['hist'], stats['hist'])]
                if 'step_sums' in stats:
                    both = mine['step_sums'] is not None and stats['step_sums'] is not None and \
                        len(mine['step_sums']) == len(stats['step_sums'])
                    mine['step_sums'] = [a + b for a, b in zip(mine['step_sums'], stats['step_sums'])] \
                        if both else None
        if merged['memory_bytes'] is not None:
            for name, value in other['memory_bytes'].items():
                merged['memory_bytes'][name] = merged['memory_bytes'].get(name, 0) + value
    return merged


def scalar_metrics(report: dict) -> dict:
    """The totals to log: ``energy/mJ_per_image``, ``energy/GSOPs``, ``energy/GMACs``, ``firing_rate/mean``..."""
    metrics = {
        'energy/mJ_per_image': report['energy_mJ'],
        'energy/GSOPs': report['sops_total'] / 1e9,
        'energy/GMACs_per_step': report['macs_total'] / 1e9,
        'energy/GMACs_real_input': report['macs_real_input'] / 1e9,
    }
    if report['firing_rate_mean'] is not None:
        metrics['firing_rate/mean'] = report['firing_rate_mean']
    if report['memory'] is not None:
        metrics['energy/memory_mJ_per_image'] = report['memory']['energy_mJ']
    return metrics


def save_json(report: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(report, f, indent=1)


CSV_COLUMNS = ['group', 'name', 'type', 'input', 'macs', 'input_activation', 'sops', 'mac_ops', 'energy_mJ',
               'calls', 'D', 'firing_rate', 'mean_level', 'level_hist', 'memory_bytes']


def save_csv(report: dict, path: str) -> None:
    """One row per synaptic layer (``group=synapse``) and per spiking neuron layer (``group=neuron``)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, extrasaction='ignore')
        writer.writeheader()
        for group, rows in (('synapse', report['layers']), ('neuron', report['neurons'])):
            for row in rows:
                row = dict(row, group=group)
                if 'level_hist' in row:
                    row['level_hist'] = ' '.join(f'{v:.4g}' for v in row['level_hist'])
                writer.writerow(row)


def format_table(report: dict, top: Optional[int] = 20) -> str:
    """A readable text summary: totals, then the ``top`` layers by energy (all with ``top=None``)."""
    lines = [
        f"images {report['images']}   T {report['time_steps']}   preset {report['preset']} "
        f"(E_MAC {report['e_mac_pJ']} pJ, E_AC {report['e_ac_pJ']} pJ)",
        f"MACs/step {report['macs_total'] / 1e9:.4f} G   MACs (real input) {report['macs_real_input'] / 1e9:.4f} G"
        f"   SOPs {report['sops_total'] / 1e9:.4f} G",
        f"energy {report['energy_mJ']:.4f} mJ/image  (MAC {report['energy_mac_mJ']:.4f} + AC "
        f"{report['energy_ac_mJ']:.4f})" + ('' if report['firing_rate_mean'] is None else
                                            f"   mean firing rate {report['firing_rate_mean']:.4f}"),
    ]
    if report['memory'] is not None:
        lines.append(f"memory {report['memory']['bytes'] / 1e6:.2f} MB/image -> "
                     f"{report['memory']['energy_mJ']:.4f} mJ ({report['memory']['preset']}, not in the total)")
    rows = sorted(report['layers'], key=lambda r: -r['energy_mJ'])
    shown = rows if top is None else rows[:top]
    width = max([len(r['name']) for r in shown] + [5])
    lines.append('')
    lines.append(f"{'layer':<{width}}  {'type':<9} {'input':<16} {'GMACs/step':>10} {'act':>7} {'GSOPs':>9} "
                 f"{'mJ':>9}")
    for r in shown:
        act = '' if r['input_activation'] is None else f"{r['input_activation']:.4f}"
        lines.append(f"{r['name']:<{width}}  {r['type']:<9} {r['input']:<16} {r['macs'] / 1e9:>10.5f} "
                     f"{act:>7} {r['sops'] / 1e9:>9.5f} {r['energy_mJ']:>9.5f}")
    if len(shown) < len(rows):
        lines.append(f'... {len(rows) - len(shown)} more layers in the JSON/CSV report')
    return '\n'.join(lines)


def save_plot(report: dict, path: str) -> None:
    """PNG: firing rate of every spiking layer (top) and energy of every synaptic layer (bottom), in order."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    layers, neurons = report['layers'], report['neurons']
    width = min(40.0, 6.0 + 0.08 * max(len(layers), len(neurons)))
    fig, (ax_fr, ax_e) = plt.subplots(2, 1, figsize=(width, 8), constrained_layout=True)
    ax_fr.bar(range(len(neurons)), [n['firing_rate'] for n in neurons], color='tab:orange')
    ax_fr.set_ylabel('firing rate\n(spikes / neuron / step)')
    ax_fr.set_title(f"{len(neurons)} spiking layers: mean firing rate "
                    f"{report['firing_rate_mean'] or 0:.4f}")
    ax_fr.set_xticks(range(len(neurons)), [n['name'] for n in neurons], rotation=90, fontsize=5)
    ac = [r['energy_mJ'] - report['e_mac_pJ'] * r['mac_ops'] * PJ_TO_MJ for r in layers]
    mac = [report['e_mac_pJ'] * r['mac_ops'] * PJ_TO_MJ for r in layers]
    ax_e.bar(range(len(layers)), ac, color='tab:blue', label='AC (spike input)')
    ax_e.bar(range(len(layers)), mac, bottom=ac, color='tab:red', label='MAC (real-valued input)')
    ax_e.set_ylabel('energy (mJ / image)')
    ax_e.set_title(f"{len(layers)} synaptic layers: {report['energy_mJ']:.4f} mJ / image, preset {report['preset']}")
    ax_e.set_xticks(range(len(layers)), [r['name'] for r in layers], rotation=90, fontsize=5)
    ax_e.legend()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
