"""Speed and memory of a spiking model against its ANN twin, at one or more time-step counts.

    python tools/benchmark.py CONFIG [--T 1 4] [--batch 8] [--resolution 224 [W]] [--threads 2]
                              [--warmup 2] [--repeats 5] [--rounds 1] [--device auto|cpu|cuda] [--fuse-conv-bn]
                              [--json FILE] [--cfg-options k=v ...]

CONFIG is a classifier (mmpretrain), detector (mmdet) or segmentor (mmseg) config. For every T, the spiking model
("snn") and its ANN twin ("ann": every spiking neuron replaced by a ReLU, :func:`spikeformer_mm.utils.ann_twin`)
are each measured in a subprocess of their own (``--threads`` intra-op threads) on a random batch of ``--batch``
images:

* training memory: the peak memory a training step adds over what is resident before it (model, optimizer
  state, inputs): see :mod:`spikeformer_mm.utils.measure`; and the process's peak during the step (that plus the
  resident memory: interpreter, libraries, weights, optimizer state). Measured first, with glibc mapping every
  tensor on its own; the times are then measured as ``tools/train.py`` runs, reusing freed memory
  (:mod:`spikeformer_mm.utils.cpu_allocator`);
* inference: images/s of the network's forward pass (``mode='tensor'``, no grad, preprocessed inputs);
  a segmentor's data preprocessor pads to ``--resolution`` instead of the config's crop size. With
  ``--fuse-conv-bn`` (as in mmdet's benchmark) it runs on a copy of the model whose BatchNorms are folded into the
  convs before them (``mmcv.cnn.fuse_conv_bn``: the same outputs, ``tests/test_fuse_conv_bn.py``), for the
  twin alike; training is measured on the model as it is;
* training step: seconds of ``model.train_step`` with the config's optimizer (preprocess, forward, loss,
  backward, optimizer step).

A round starts one worker subprocess per (model, T). They build, warm up and measure memory one after the other,
then take turns: in every one of ``--repeats`` repeats (after ``--warmup`` untimed calls, which also absorb
``torch.compile``) each worker times one call while the others wait, starting one worker further on each time.
Calls timed in the same turn see the same machine, so a machine whose speed drifts (a shared VM: 10-30% within
seconds) weighs on all of them alike: the time ratios (SNN/ANN, and each T over T=1) are the medians of the
ratios of calls of the same turn; the figures are the medians of all calls; memory is the median over rounds.
``--rounds N`` repeats this in N fresh sets of workers (the SNN started first in odd rounds, the twin in even
ones). All workers of a round stay resident together (four at the default ``--T 1 4``).
The printed table and ``--json`` give the figures, the ratios (with the quartiles of the paired ones), the median
page faults and system CPU seconds of a training step (a step that faults its activations in again is what makes
CPU steps scale worse than linearly), and each round's per-call seconds, page faults and system seconds, as costs:
``inference`` ratios compare time per image, so 1.05 means 5% slower.
"""
import argparse
import copy
import datetime
import json
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from mmcv.cnn import fuse_conv_bn
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

import spikeformer_mm  # noqa: F401  (checkpoint fixes; registries resolve lazily)
from spikeformer_mm.utils import ann_twin
from spikeformer_mm.utils.cpu_allocator import reuse_freed_cpu_memory
from spikeformer_mm.utils.measure import call_peak_memory_mb, rss_follows_tensors
from spikeformer_mm.utils.neuron_backend import describe_neuron_backend
from spikeformer_mm.utils.synthetic_batch import synthetic_batch, task_of

MODELS = ('snn', 'ann')
METRICS = ('train_step', 'inference', 'memory', 'process_memory')
PHASES = ('infer', 'train')  # timed in this order


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
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='time inference with every BatchNorm folded into the conv before it (both models)')
    parser.add_argument('--json', metavar='FILE', help='also write the results to FILE as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override settings in the config, as in tools/train.py')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)  # internal: serve one model
    args = parser.parse_args(argv)
    if not args.worker:
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
class Measurement:
    """``spec['model']`` ('snn' or 'ann') at ``spec['T']``, built in this process; see the module docstring.

    Building it warms it up and measures its training memory (:attr:`figures`); :meth:`seconds` then times one
    inference call or one training step.
    """

    def __init__(self, spec: dict):
        torch.set_num_threads(spec['threads'])
        self.device = device = torch.device(spec['device'])
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
        self.model = model = ROOT_MODELS.build(cfg.model)
        if spec['model'] == 'ann':
            ann_twin(model)
        model.to(device)
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        data = synthetic_batch(task, model, spec['batch'], height, width)

        model.train()
        self._train = lambda: model.train_step(data, optim_wrapper)
        for _ in range(spec['warmup']):  # compiles the kernels and creates the optimizer state
            self._train()
        peaks, resident = zip(*(call_peak_memory_mb(self._train, device) for _ in range(spec['repeats'])))
        reused = device.type == 'cpu' and reuse_freed_cpu_memory()  # times as tools/train.py and tools/test.py run
        with torch.no_grad():
            self._prepared = model.data_preprocessor(data, False)
        self._infer_model = fuse_conv_bn(copy.deepcopy(model).eval()) if spec['fuse_conv_bn'] else model
        self.figures = dict(peak_mem_mb=statistics.median(peaks), resident_mem_mb=statistics.median(resident),
                            params=sum(p.numel() for p in model.parameters()), task=task,
                            cpu_allocator='glibc, freed memory reused' if reused else 'default',
                            neuron_backend=describe_neuron_backend(model, device))

    def seconds(self, phase: str) -> float:
        """Wall time of one call: ``'infer'`` (``mode='tensor'``, eval, no grad) or ``'train'`` (a train step).

        :attr:`last_call_usage` then holds the call's page faults (minor + major) and system CPU seconds: a step
        that faults in memory freed by the one before shows here first (see ``cpu_allocator``).
        """
        if phase not in PHASES:
            raise ValueError(f'phase must be one of {PHASES}, got {phase!r}')
        training = phase == 'train'
        self.model.train(training)  # the fused copy stays in eval mode
        call = self._train if training else lambda: self._infer_model(**self._prepared, mode='tensor')
        with torch.set_grad_enabled(training):
            self._synchronize()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            call()
            self._synchronize()
            elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        faults = (after.ru_minflt + after.ru_majflt) - (usage.ru_minflt + usage.ru_majflt)
        self.last_call_usage = dict(page_faults=faults, system_s=after.ru_stime - usage.ru_stime)
        return elapsed

    def _synchronize(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)


def serve() -> None:
    """Worker loop: the first stdin line is the spec (reply: the memory figures), then one phase per line
    (reply: its seconds, page faults and system seconds). Replies go to the original stdout, one JSON line each;
    stray prints go to stderr."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), 'w', buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    spec = sys.stdin.readline()
    if not spec:  # the round ended (another worker failed) before this one was set up
        return
    measurement = Measurement(json.loads(spec))
    replies.write(json.dumps(measurement.figures) + '\n')
    for line in sys.stdin:
        seconds = measurement.seconds(line.strip())
        replies.write(json.dumps(dict(seconds=seconds, **measurement.last_call_usage)) + '\n')


# ---------------------------------------------------------------- parent: the workers of a round take turns
class Worker:
    """A subprocess measuring one model at one T, answering one request at a time (see :func:`serve`)."""

    def __init__(self, args, model: str, T: int):
        self.model, self.T = model, T
        self.spec = dict(config=osp.abspath(args.config), cfg_options=args.cfg_options, model=model, T=T,
                         batch=args.batch, resolution=args.resolution, threads=args.threads,
                         warmup=args.warmup, repeats=args.repeats, device=args.device,
                         fuse_conv_bn=args.fuse_conv_bn)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        self._stderr = tempfile.TemporaryFile(mode='w+')
        self._proc = subprocess.Popen([sys.executable, osp.abspath(__file__), '--worker'], env=env, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)

    def request(self, message):
        """Send ``message`` (the spec, or a phase name) and return the worker's reply."""
        try:
            self._proc.stdin.write(json.dumps(message) if isinstance(message, dict) else message)
            self._proc.stdin.write('\n')
            self._proc.stdin.flush()
            reply = self._proc.stdout.readline()
        except BrokenPipeError:
            reply = ''
        if not reply:
            code = self._proc.wait()
            self._stderr.seek(0)
            raise RuntimeError(f'measuring {self.model} at T={self.T} failed (exit {code}):\n'
                               f'{self._stderr.read()[-4000:]}')
        return json.loads(reply)

    def close(self) -> None:
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


def measure_round(args, index: int) -> dict:
    """Every (model, T) of one round in its own worker; ``{(model, T): figures and per-repeat seconds}``.

    The workers warm up and measure memory one after the other, then take turns: each repeat times one call of
    every worker, starting one worker further on each time, so that all of them see the machine's drift alike.
    """
    order = MODELS if index % 2 == 0 else MODELS[::-1]
    workers = [Worker(args, model, T) for T in args.T for model in order]
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


def benchmark(args) -> dict:
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


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        serve()
        return None
    report = benchmark(args)
    print(format_report(report))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
