"""Per-op self CPU time of training steps or inference calls of several (model, T), profiled in turns in one
process (``tools/analysis_tools/profile_time_steps.py``)."""
import collections
import logging
import os.path as osp
import statistics

from mmengine.logging import MMLogger
from torch.profiler import profile

from .measurement import Measurement


def column_label(model: str, T: int, models: list) -> str:
    """``'T=4'``, or ``'snn T=4'`` when several models are compared."""
    return f'{model} T={T}' if len(models) > 1 else f'T={T}'


def op_key(event, by_shape: bool) -> tuple:
    """An op's row: ``(name, shapes)``, ``shapes`` the shapes of its tensor inputs with ``by_shape``, else ``''``.
    The batch (``T * B``, times heads in attention products), the first input's leading dimension, is written ``N``
    in every input that leads with it, so that the rows of every T line up (a weight that has as many output
    channels as that batch gets an ``N`` too, and a row of its own at that T)."""
    if not by_shape:
        return event.key, ''
    shapes = [list(shape) for shape in event.input_shapes if shape]
    batch = shapes[0][0] if shapes else None
    dims = [['N' if shape[0] == batch else str(shape[0])] + [str(d) for d in shape[1:]] for shape in shapes]
    return event.key, ' '.join(f"[{', '.join(shape)}]" for shape in dims)


def profile_steps(args) -> tuple:
    """``({label: Counter(op_key -> self CPU microseconds per call)}, {label: [wall seconds of each call]})``, the
    calls of ``args.phase`` of every (model, T) profiled in turns (ops split by input shapes with
    ``args.by_shape``). ``args``: the settings of ``tools/analysis_tools/profile_time_steps.py``."""
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # not the optimizer's line per parameter
    measurements = {column_label(model, T, args.model): Measurement(dict(
        config=osp.abspath(args.config), cfg_options=args.cfg_options, model=model, T=T, batch=args.batch,
        resolution=args.resolution, threads=args.threads, warmup=1, repeats=1, device='cpu',
        fuse_conv_bn=args.fuse_conv_bn)) for model in args.model for T in sorted(args.T)}
    for measurement in measurements.values():  # faults in again what measuring the memory released, untimed
        for _ in range(args.warmup):
            measurement.seconds(args.phase)
    totals = {label: collections.Counter() for label in measurements}
    walls = {label: [] for label in measurements}
    for step in range(args.steps):
        turn = list(measurements.items())
        turn = turn[step % len(turn):] + turn[:step % len(turn)]  # a different one goes first in each turn
        for label, measurement in turn:
            with profile(record_shapes=args.by_shape) as prof:
                walls[label].append(measurement.seconds(args.phase))
            for event in prof.key_averages(group_by_input_shape=args.by_shape):
                totals[label][op_key(event, args.by_shape)] += event.self_cpu_time_total / args.steps
    return totals, walls


def format_table(totals: dict, walls: dict, top: int, phase: str) -> str:
    labels = list(totals)
    first, last = labels[0], labels[-1]
    sums = {label: sum(ops.values()) for label, ops in totals.items()}
    paired = sorted(b / a for a, b in zip(walls[first], walls[last]))
    call = 'training step' if phase == 'train' else 'inference call'
    lines = [f'self CPU time per {call} (ms): ' + ', '.join(f'{label} {s / 1e3:.0f}' for label, s in sums.items())
             + f'; {last} / {first}: {sums[last] / sums[first]:.2f}x',
             f'wall time per {call} (s, median): '
             + ', '.join(f'{label} {statistics.median(w):.3f}' for label, w in walls.items())
             + f'; {last} / {first}, calls of the same turn: {statistics.median(paired):.3f}x '
               f'(from {paired[0]:.3f} to {paired[-1]:.3f})', '',
             '| op | ' + ' | '.join(f'{label} (ms)' for label in labels) + f' | {last} / {first} |',
             '|---|' + '---|' * (len(labels) + 1)]
    for op, _ in totals[last].most_common(top):
        ratio = totals[last][op] / totals[first][op] if totals[first][op] else float('inf')
        name, shapes = op
        lines.append(f'| {name[:60]}{" " + shapes if shapes else ""} | '
                     + ' | '.join(f'{ops[op] / 1e3:.1f}' for ops in totals.values())
                     + f' | {ratio:.2f}x |')
    return '\n'.join(lines)
