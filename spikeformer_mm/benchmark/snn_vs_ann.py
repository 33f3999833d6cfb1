"""A spiking model against its ANN twin at several T: rounds of worker subprocesses taking turns, paired ratios.

A round starts one :class:`~.worker.Worker` per (model, T). They build, warm up and measure memory one after the
other, then take turns: in every one of ``repeats`` repeats (after ``warmup`` untimed calls, which also absorb
``torch.compile``) each worker times one call while the others wait, starting one worker further on each time.
Calls timed in the same turn see the same machine, so a machine whose speed drifts (a shared VM) weighs on all of
them alike: the time ratios (SNN/ANN, and each T over T=1) are the medians of the ratios of calls of the same turn;
the figures are the medians of all calls; memory is the median over rounds. Rounds alternate which model starts.

The settings (``args``) are those of ``tools/benchmark.py``: ``config``, ``cfg_options``, ``T`` (a list),
``batch``, ``resolution`` ``[H, W]``, ``threads``, ``warmup``, ``repeats``, ``rounds``, ``device``
(``'auto'``, ``'cpu'`` or ``'cuda'``) and ``fuse_conv_bn``.
"""
import datetime
import os
import os.path as osp
import platform
import statistics
import sys

import torch

from .measurement import PHASES
from .worker import Worker

MODELS = ('snn', 'ann')
METRICS = ('train_step', 'inference', 'memory', 'process_memory')


def worker_spec(args, model: str, T: int) -> dict:
    """The :class:`~.measurement.Measurement` spec of ``model`` (``'snn'`` or ``'ann'``) at ``T``."""
    return dict(config=osp.abspath(args.config), cfg_options=args.cfg_options, model=model, T=T, batch=args.batch,
                resolution=args.resolution, threads=args.threads, warmup=args.warmup, repeats=args.repeats,
                device=args.device, fuse_conv_bn=args.fuse_conv_bn)


def measure_round(args, index: int) -> dict:
    """Every (model, T) of one round in its own worker; ``{(model, T): figures and per-repeat seconds}``.

    The workers warm up and measure memory one after the other, then take turns: each repeat times one call of
    every worker, starting one worker further on each time, so that all of them see the machine's drift alike.
    """
    order = MODELS if index % 2 == 0 else MODELS[::-1]
    workers = [Worker(worker_spec(args, model, T)) for T in args.T for model in order]
    try:
        results = {}
        for worker in workers:  # one at a time: building, compiling and the memory peaks do not overlap
            results[worker.model, worker.T] = dict(worker.request(worker.spec), seconds={}, page_faults={},
                                                   system_s={})
        for phase in PHASES:
            for worker in workers:
                for _ in range(args.warmup):
                    worker.request(phase)
            calls = {worker: [] for worker in workers}
            for repeat in range(args.repeats):
                start = repeat % len(workers)
                for worker in workers[start:] + workers[:start]:
                    calls[worker].append(worker.request(phase))
            for worker, replies in calls.items():
                for key in ('seconds', 'page_faults', 'system_s'):
                    results[worker.model, worker.T][key][phase] = [reply[key] for reply in replies]
    finally:
        for worker in workers:
            worker.close()
    return results


def paired_cost_ratios(a: dict, b: dict) -> dict:
    """Costs of ``a`` over ``b``: train-step time, time per image at inference, training-step memory, process peak.

    The times are the median of the ratios of calls timed in the same turn (same round and repeat), with their
    quartiles under ``'quartiles'``; the memory is the ratio of the medians.
    """
    paired = {metric: sorted(x / y for ra, rb in zip(a['rounds'], b['rounds'])
                             for x, y in zip(ra['seconds'][phase], rb['seconds'][phase]))
              for metric, phase in (('train_step', 'train'), ('inference', 'infer'))}
    return dict({metric: statistics.median(ratios) for metric, ratios in paired.items()},
                memory=a['peak_mem_mb'] / b['peak_mem_mb'],
                process_memory=a['process_peak_mb'] / b['process_peak_mb'],
                quartiles={metric: _quartiles(ratios) for metric, ratios in paired.items()})


def _quartiles(values: list) -> list:
    """First and third quartile (one value: itself twice)."""
    if len(values) < 2:
        return [values[0], values[0]]
    q1, _, q3 = statistics.quantiles(values, n=4, method='inclusive')
    return [q1, q3]


def resolve_device(device: str) -> str:
    if device != 'auto':
        return device
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def machine_description(device: str) -> str:
    if device == 'cuda':
        return f'{torch.cuda.get_device_name()} (CUDA)'
    cpu = platform.processor() or platform.machine()
    if osp.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        cpu = names[0] if names else cpu
    return f'{cpu}, {os.cpu_count()} cores'


def combine_rounds(rounds: list, batch: int) -> dict:
    """One (model, T): its figures over every round (times: medians of all repeats; memory: median of the
    rounds' medians) and, under ``'rounds'``, each round's memory and per-repeat seconds."""
    def all_seconds(phase):
        return [s for r in rounds for s in r['seconds'][phase]]
    combined = {key: value for key, value in rounds[0].items() if key not in ('seconds', 'page_faults', 'system_s')}
    combined.update(train_step_s=statistics.median(all_seconds('train')),
                    train_page_faults=statistics.median(f for r in rounds for f in r['page_faults']['train']),
                    train_system_s=statistics.median(s for r in rounds for s in r['system_s']['train']),
                    infer_images_per_s=batch / statistics.median(all_seconds('infer')),
                    peak_mem_mb=statistics.median(r['peak_mem_mb'] for r in rounds),
                    resident_mem_mb=statistics.median(r['resident_mem_mb'] for r in rounds),
                    process_peak_mb=statistics.median(r['peak_mem_mb'] + r['resident_mem_mb'] for r in rounds),
                    rounds=[dict(peak_mem_mb=r['peak_mem_mb'], resident_mem_mb=r['resident_mem_mb'],
                                 seconds=r['seconds'], page_faults=r['page_faults'], system_s=r['system_s'])
                            for r in rounds])
    return combined


def run_benchmark(args) -> dict:
    """Every round, then per T the figures of both models and their ratios, and each T over T=1 (a report)."""
    args.device = resolve_device(args.device)
    rounds = []
    for index in range(args.rounds):
        rounds.append(measure_round(args, index))
        for (model, T), figures in rounds[-1].items():
            print(f"round {index + 1}/{args.rounds}, {model} at T={T}: train step "
                  f"{statistics.median(figures['seconds']['train']):.3f} s, "
                  f"{args.batch / statistics.median(figures['seconds']['infer']):.2f} images/s, "
                  f"{figures['peak_mem_mb']:.0f} MB", file=sys.stderr, flush=True)
    results = []
    for T in args.T:
        entry = dict(T=T, **{model: combine_rounds([r[model, T] for r in rounds], args.batch) for model in MODELS})
        entry['ratios'] = paired_cost_ratios(entry['snn'], entry['ann'])
        results.append(entry)
    t1 = next((entry for entry in results if entry['T'] == 1), None)
    time_scaling = [dict(T=entry['T'], **{model: paired_cost_ratios(entry[model], t1[model]) for model in MODELS})
                    for entry in results if t1 is not None and entry['T'] != 1]
    return dict(
        config=args.config, cfg_options=args.cfg_options, task=results[0]['snn']['task'], device=args.device,
        neuron_backend=results[0]['snn']['neuron_backend'], cpu_allocator=results[0]['snn']['cpu_allocator'],
        threads=args.threads, batch=args.batch, fuse_conv_bn=args.fuse_conv_bn,
        resolution=args.resolution, warmup=args.warmup,
        repeats=args.repeats, rounds=args.rounds, machine=machine_description(args.device), torch=torch.__version__,
        date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        results=results, time_scaling=time_scaling)


def format_report(report: dict) -> str:
    height, width = report['resolution']
    lines = [f"{report['config']}: {report['task']}, batch {report['batch']}, {height}x{width}, "
             f"{report['device']} ({report['threads']} threads), {report['repeats']} repeats after "
             f"{report['warmup']} warm-up in each of {report['rounds']} round(s), the workers taking turns",
             f"machine: {report['machine']}; torch {report['torch']}; {report['date']}",
             f"spiking neurons: {report['neuron_backend']}; CPU allocator: {report['cpu_allocator']}; inference: "
             + ('BatchNorm folded into the convs' if report['fuse_conv_bn'] else 'the model as trained'), '',
             '| T | model | train step (s) | inference (img/s) | train-step memory (MB) | process peak (MB) '
             '| page faults / train step | system s / train step |',
             '|---|---|---|---|---|---|---|---|']
    for entry in report['results']:
        for model, name in (('snn', 'SNN'), ('ann', 'ANN twin')):
            m = entry[model]
            lines.append(f"| {entry['T']} | {name} | {m['train_step_s']:.3f} | {m['infer_images_per_s']:.2f} | "
                         f"{m['peak_mem_mb']:.0f} | {m['process_peak_mb']:.0f} | {m['train_page_faults']:.0f} | "
                         f"{m['train_system_s']:.2f} |")
        lines.append(_ratio_row(entry['T'], 'SNN / ANN', entry['ratios']))
    for scaling in report['time_scaling']:
        for model, name in (('snn', 'SNN'), ('ann', 'ANN twin')):
            lines.append(_ratio_row(f"{scaling['T']} / 1", name, scaling[model]))
    lines += ['', 'ratios are costs (time per step, time per image, step memory, process peak): below 1 is cheaper; '
              'time ratios are '
              'medians of the ratios of calls timed in the same turn, their quartiles:']
    spreads = [(f"T={entry['T']} SNN / ANN", entry['ratios']) for entry in report['results']]
    spreads += [(f"T={scaling['T']} / T=1 {name}", scaling[model]) for scaling in report['time_scaling']
                for model, name in (('snn', 'SNN'), ('ann', 'ANN twin'))]
    for label, ratios in spreads:
        lines.append(f'  {label}: ' + ', '.join(
            f"{metric} {ratios['quartiles'][metric][0]:.2f}-{ratios['quartiles'][metric][1]:.2f}"
            for metric in ('train_step', 'inference')))
    return '\n'.join(lines)


def _ratio_row(T, name: str, ratios: dict) -> str:
    return f'| {T} | {name} | ' + ' | '.join(f'{ratios[metric]:.2f}x' for metric in METRICS) + ' | | |'
