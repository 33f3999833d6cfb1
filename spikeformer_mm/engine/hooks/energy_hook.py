"""Measure firing rates, synaptic operations and energy during validation and testing."""
import os.path as osp
from typing import Optional

from mmengine.dist import all_gather_object, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from spikeformer_mm.energy import (
    EnergyCounter,
    build_report,
    format_table,
    merge_states,
    save_csv,
    save_json,
    save_plot,
    scalar_metrics,
)
from spikeformer_mm.energy.presets import DEFAULT_COMPUTE, DEFAULT_MEMORY, compute_costs, memory_cost_per_byte
from spikeformer_mm.registry import HOOKS


@HOOKS.register_module()
class EnergyHook(Hook):
    """Energy estimate of the evaluated model, logged with the val/test metrics and saved per layer.

    During a measured val or test loop an :class:`~spikeformer_mm.energy.EnergyCounter` is attached to the model
    (forward hooks); at the end of the loop the totals join the loop's metrics (``energy/mJ_per_image``,
    ``energy/GSOPs``, ``energy/GMACs_per_step``, ``energy/GMACs_real_input``, ``firing_rate/mean``; scalars
    the logger writes to the run's scalars), and ``<work_dir>/energy/energy_<mode>_<n>.{json,csv,png}`` hold
    the per-layer report, a CSV of it and a chart. Outside a measurement no hook is attached: zero cost.

    Usage: ``custom_hooks = [dict(type='spikeformer_mm.EnergyHook', max_images=100)]``.

    Args:
        interval: measure every ``interval``-th validation loop (test loops are always measured).
        max_images: stop counting after this many images of a loop (per process); ``None`` counts all.
        preset, e_mac, e_ac: energy per MAC / AC in pJ (see ``spikeformer_mm.energy.COMPUTE_PRESETS``).
        fold_affine, time_steps, memory: see :class:`~spikeformer_mm.energy.EnergyCounter`.
        memory_preset: energy per byte of the memory term (``spikeformer_mm.energy.MEMORY_PRESETS``).
        out_dir: folder of the reports; default ``<work_dir>/energy``.
        plot: also write the PNG chart.
    """
    priority = 'HIGHEST'  # before RuntimeInfoHook, so the metrics it logs include the energy

    def __init__(self, interval: int = 1, max_images: Optional[int] = None, preset: str = DEFAULT_COMPUTE,
                 e_mac: Optional[float] = None, e_ac: Optional[float] = None, fold_affine: bool = True,
                 time_steps: Optional[int] = None, memory: bool = False, memory_preset: str = DEFAULT_MEMORY,
                 out_dir: Optional[str] = None, plot: bool = True):
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'EnergyHook interval must be a positive int, got {interval!r}')
        if max_images is not None and (not isinstance(max_images, int) or max_images < 1):
            raise ValueError(f'EnergyHook max_images must be a positive int or None, got {max_images!r}')
        compute_costs(preset, e_mac, e_ac)  # fail at construction on an unknown preset or a negative energy
        memory_cost_per_byte(memory_preset)
        self.interval = interval
        self.max_images = max_images
        self.cost_cfg = dict(preset=preset, e_mac=e_mac, e_ac=e_ac, memory_preset=memory_preset)
        self.counter_cfg = dict(time_steps=time_steps, fold_affine=fold_affine, memory=memory)
        self.out_dir = out_dir
        self.plot = plot
        self.counter = None
        self._val_loops = 0
        self._reports = 0

    # -------------------------------------------------------------------------------------------- val/test
    def before_val_epoch(self, runner) -> None:
        self._val_loops += 1
        if (self._val_loops - 1) % self.interval == 0:
            self._start(runner)

    def before_test_epoch(self, runner) -> None:
        self._start(runner)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._stop_when_enough()

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._stop_when_enough()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._finish(runner, 'val', metrics)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._finish(runner, 'test', metrics)

    # ------------------------------------------------------------------------------------------- internals
    def _start(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.counter = EnergyCounter(model, **self.counter_cfg).attach()

    def _stop_when_enough(self) -> None:
        if self.counter is not None and self.max_images is not None and self.counter.images >= self.max_images:
            self.counter.detach()

    def _finish(self, runner, mode: str, metrics: Optional[dict]) -> None:
        if self.counter is None:
            return
        self.counter.detach()
        state = self.counter.state()
        self.counter = None
        if get_world_size() > 1:
            state = merge_states(all_gather_object(state))
        if state['images'] == 0:
            runner.logger.warning(f'EnergyHook: the {mode} loop ran no images through the model; no energy report')
            return
        report = build_report(state, **self.cost_cfg)
        if metrics is not None:
            metrics.update(scalar_metrics(report))
        if not is_main_process():
            return
        self._reports += 1
        out_dir = self.out_dir or osp.join(runner.work_dir, 'energy')
        stem = osp.join(out_dir, f'energy_{mode}_{self._reports}')
        save_json(report, stem + '.json')
        save_csv(report, stem + '.csv')
        if self.plot:
            save_plot(report, stem + '.png')
        runner.logger.info(f'Energy estimate ({mode}, per image; report in {stem}.json):\n'
                           + format_table(report, top=10))
