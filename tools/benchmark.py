"""Speed and memory of a spiking model against its ANN twin, at one or more time-step counts.

    python tools/benchmark.py CONFIG [--T 1 4] [--batch 8] [--resolution 224 [W]] [--threads 2]
                              [--warmup 2] [--repeats 5] [--rounds 1] [--device auto|cpu|cuda] [--json FILE]
                              [--cfg-options k=v ...]

CONFIG is a classifier (mmpretrain), detector (mmdet) or segmentor (mmseg) config. For every T, the spiking model
("snn") and its ANN twin ("ann": every spiking neuron replaced by a ReLU, :func:`spikeformer_mm.utils.ann_twin`)
are each measured in a fresh subprocess (``--threads`` intra-op threads) on a random batch of ``--batch`` images:

* inference: images/s of the network's forward pass (``mode='tensor'``, no grad, preprocessed inputs);
  a segmentor's data preprocessor pads to ``--resolution`` instead of the config's crop size;
* training step: seconds of ``model.train_step`` with the config's optimizer (preprocess, forward, loss,
  backward, optimizer step);
* training memory: the peak memory a training step adds over what is resident before it (model, optimizer
  state, inputs): see :mod:`spikeformer_mm.utils.measure`. Measured first, with glibc mapping every tensor on its
  own; the times are then measured as ``tools/train.py`` runs, reusing freed memory
  (:mod:`spikeformer_mm.utils.cpu_allocator`).

Each figure is the median of ``--repeats`` runs after ``--warmup`` runs (which also absorb ``torch.compile``).
``--rounds N`` measures every (model, T) in N subprocesses, the SNN and its twin alternating (SNN first in odd
rounds, the twin first in even ones), and reports the median over rounds: a machine whose speed drifts between
subprocesses then weighs on both models alike.
The printed table and ``--json`` give the figures, the SNN/ANN ratios and each T's ratios to T=1, as costs:
``inference`` ratios compare time per image, so 1.05 means 5% slower.
"""
import argparse
import datetime
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

import spikeformer_mm  # noqa: F401  (checkpoint fixes; registries resolve lazily)
from spikeformer_mm.utils import ann_twin
from spikeformer_mm.utils.cpu_allocator import reuse_freed_cpu_memory
from spikeformer_mm.utils.measure import call_peak_memory_mb, median_seconds, rss_follows_tensors
from spikeformer_mm.utils.neuron_backend import describe_neuron_backend
from spikeformer_mm.utils.synthetic_batch import synthetic_batch, task_of

MODELS = ('snn', 'ann')
METRICS = ('train_step', 'inference', 'memory')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark a spiking model against its ANN twin')
    parser.add_argument('config', nargs='?', help='classifier, detector or segmentor config file')
    parser.add_argument('--T', type=int, nargs='+', default=[1, 4], help='time steps to measure (default: 1 4)')
    parser.add_argument('--batch', type=int, default=8, help='images per batch (default: 8)')
    parser.add_argument('--resolution', type=int, nargs='+', default=[224], metavar='SIZE',
                        help='input height and width, or one size for both (default: 224)')
    parser.add_argument('--threads', type=int, default=2, help='intra-op threads (default: 2)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs before measuring (default: 2)')
    parser.add_argument('--repeats', type=int, default=5, help='measured runs; figures are medians (default: 5)')
    parser.add_argument('--rounds', type=int, default=1,
                        help='subprocesses per model and T, SNN and twin alternating; medians (default: 1)')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto',
                        help='auto: cuda if torch sees a GPU, else cpu')
    parser.add_argument('--json', metavar='FILE', help='also write the results to FILE as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override settings in the config, as in tools/train.py')
    parser.add_argument('--worker', metavar='SPEC', help=argparse.SUPPRESS)  # internal: measure one model
    args = parser.parse_args(argv)
    if args.worker is None:
        check_args(parser, args)
    return args


def check_args(parser, args):
    if args.config is None:
        parser.error('the config file is required')
    if not osp.isfile(args.config):
        parser.error(f'config file not found: {args.config}')
    if len(args.resolution) > 2 or min(args.resolution) < 1:
        parser.error(f'--resolution takes one or two positive sizes (H [W]), got {args.resolution}')
    args.resolution = args.resolution * 2 if len(args.resolution) == 1 else args.resolution
    for name in ('batch', 'threads', 'repeats', 'rounds'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    if args.warmup < 1:
        parser.error(f'--warmup must be >= 1 (the first runs compile and allocate), got {args.warmup}')
    if min(args.T) < 1 or len(set(args.T)) != len(args.T):
        parser.error(f'--T takes distinct time-step counts >= 1, got {args.T}')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda, but torch sees no CUDA device')


# ---------------------------------------------------------------- worker: one model, one T, in its own process
def measure(spec: dict) -> dict:
    """Build ``spec['model']`` ('snn' or 'ann') at ``spec['T']`` and measure it; see the module docstring."""
    torch.set_num_threads(spec['threads'])
    device = torch.device(spec['device'])
    if device.type == 'cpu':
        rss_follows_tensors()  # before the first large tensor, so that the RSS tracks live tensors
    set_random_seed(0)
    cfg = Config.fromfile(spec['config'])
    cfg.merge_from_dict(spec['cfg_options'])
    cfg.model.backbone.T = spec['T']
    task = task_of(cfg.get('default_scope'))
    height, width = spec['resolution']
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner does (mmpretrain configs set it here)
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    if cfg.model.get('data_preprocessor', {}).get('size'):  # mmseg pads to its crop size: use the measured size
        cfg.model.data_preprocessor.size = (height, width)
    init_default_scope(cfg.default_scope)
    model = ROOT_MODELS.build(cfg.model)
    if spec['model'] == 'ann':
        ann_twin(model)
    model.to(device)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    data = synthetic_batch(task, model, spec['batch'], height, width)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else None

    model.train()
    train = lambda: model.train_step(data, optim_wrapper)  # noqa: E731
    for _ in range(spec['warmup']):  # compiles the kernels and creates the optimizer state
        train()
    peaks, resident = zip(*(call_peak_memory_mb(train, device) for _ in range(spec['repeats'])))

    reused = device.type == 'cpu' and reuse_freed_cpu_memory()  # times as tools/train.py and tools/test.py run
    model.eval()
    with torch.no_grad():
        prepared = model.data_preprocessor(data, False)
        infer_s = median_seconds(lambda: model(**prepared, mode='tensor'), spec['warmup'], spec['repeats'], sync)
    model.train()
    train_s = median_seconds(train, spec['warmup'], spec['repeats'], sync)
    return dict(train_step_s=train_s, infer_images_per_s=spec['batch'] / infer_s,
                peak_mem_mb=statistics.median(peaks), resident_mem_mb=statistics.median(resident),
                params=sum(p.numel() for p in model.parameters()), task=task,
                cpu_allocator='glibc, freed memory reused' if reused else 'default',
                neuron_backend=describe_neuron_backend(model, device))


# ---------------------------------------------------------------- parent: one subprocess per model and T
def run_worker(args, model: str, T: int) -> dict:
    spec = dict(config=osp.abspath(args.config), cfg_options=args.cfg_options, model=model, T=T,
                batch=args.batch, resolution=args.resolution, threads=args.threads, warmup=args.warmup,
                repeats=args.repeats, device=args.device)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = osp.join(tmp, 'spec.json')
        with open(spec_file, 'w') as f:
            json.dump(spec, f)
        proc = subprocess.run([sys.executable, osp.abspath(__file__), '--worker', spec_file], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'measuring {model} at T={T} failed (exit {proc.returncode}):\n'
                               f'{proc.stderr[-4000:]}')
        with open(spec_file + '.out') as f:
            return json.load(f)


def worker_main(spec_file: str) -> None:
    with open(spec_file) as f:
        result = measure(json.load(f))
    with open(spec_file + '.out', 'w') as f:
        json.dump(result, f)


def cost_ratios(a: dict, b: dict) -> dict:
    """Costs of ``a`` over ``b``: train-step time, time per image at inference, training memory."""
    return dict(train_step=a['train_step_s'] / b['train_step_s'],
                inference=b['infer_images_per_s'] / a['infer_images_per_s'],
                memory=a['peak_mem_mb'] / b['peak_mem_mb'])


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


FIGURES = ('train_step_s', 'infer_images_per_s', 'peak_mem_mb', 'resident_mem_mb')


def median_over_rounds(rounds: list) -> dict:
    """One model's figures: the median of each over the rounds; every round's figures under ``'rounds'``."""
    combined = dict(rounds[0])
    combined.update({name: statistics.median(r[name] for r in rounds) for name in FIGURES})
    combined['rounds'] = [{name: r[name] for name in FIGURES} for r in rounds]
    return combined


def benchmark(args) -> dict:
    args.device = resolve_device(args.device)
    results = []
    for T in args.T:
        rounds = {model: [] for model in MODELS}
        for index in range(args.rounds):
            for model in (MODELS if index % 2 == 0 else MODELS[::-1]):
                rounds[model].append(run_worker(args, model, T))
                figures = rounds[model][-1]
                print(f"{model} at T={T}, round {index + 1}/{args.rounds}: train step "
                      f"{figures['train_step_s']:.3f} s, {figures['infer_images_per_s']:.2f} images/s, "
                      f"{figures['peak_mem_mb']:.0f} MB", file=sys.stderr, flush=True)
        entry = dict(T=T, **{model: median_over_rounds(rounds[model]) for model in MODELS})
        entry['ratios'] = cost_ratios(entry['snn'], entry['ann'])
        results.append(entry)
    t1 = next((entry for entry in results if entry['T'] == 1), None)
    time_scaling = [dict(T=entry['T'], **{model: cost_ratios(entry[model], t1[model]) for model in MODELS})
                    for entry in results if t1 is not None and entry['T'] != 1]
    return dict(
        config=args.config, cfg_options=args.cfg_options, task=results[0]['snn']['task'], device=args.device,
        neuron_backend=results[0]['snn']['neuron_backend'], cpu_allocator=results[0]['snn']['cpu_allocator'],
        threads=args.threads, batch=args.batch,
        resolution=args.resolution, warmup=args.warmup,
        repeats=args.repeats, rounds=args.rounds, machine=machine_description(args.device), torch=torch.__version__,
        date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        results=results, time_scaling=time_scaling)


def format_report(report: dict) -> str:
    height, width = report['resolution']
    lines = [f"{report['config']}: {report['task']}, batch {report['batch']}, {height}x{width}, "
             f"{report['device']} ({report['threads']} threads), median of {report['repeats']} after "
             f"{report['warmup']} warm-up" + (f", median of {report['rounds']} alternating rounds"
                                             if report['rounds'] > 1 else ''),
             f"machine: {report['machine']}; torch {report['torch']}; {report['date']}",
             f"spiking neurons: {report['neuron_backend']}; CPU allocator: {report['cpu_allocator']}", '',
             '| T | model | train step (s) | inference (img/s) | train-step memory (MB) |',
             '|---|---|---|---|---|']
    for entry in report['results']:
        for model, name in (('snn', 'SNN'), ('ann', 'ANN twin')):
            m = entry[model]
            lines.append(f"| {entry['T']} | {name} | {m['train_step_s']:.3f} | {m['infer_images_per_s']:.2f} | "
                         f"{m['peak_mem_mb']:.0f} |")
        lines.append(_ratio_row(entry['T'], 'SNN / ANN', entry['ratios']))
    for scaling in report['time_scaling']:
        for model, name in (('snn', 'SNN'), ('ann', 'ANN twin')):
            lines.append(_ratio_row(f"{scaling['T']} / 1", name, scaling[model]))
    lines += ['', 'ratios are costs (time per step, time per image, memory): below 1 is cheaper']
    return '\n'.join(lines)


def _ratio_row(T, name: str, ratios: dict) -> str:
    return f'| {T} | {name} | ' + ' | '.join(f'{ratios[metric]:.2f}x' for metric in METRICS) + ' |'


def main(argv=None):
    args = parse_args(argv)
    if args.worker is not None:
        worker_main(args.worker)
        return None
    report = benchmark(args)
    print(format_report(report))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
