"""The benchmark tools and the package behind them: the ANN twin, peak-memory measurement, synthetic batches.

No timing is asserted (speed is measured by the tools, not by tests). Tiny models, small images, one thread and
eager neuron kernels (``SPIKEFORMER_COMPILE=0``) keep every subprocess to a few seconds.
"""
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import load_tool
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from torch import nn

from spikeformer_mm.benchmark import (
    Measurement,
    ann_twin,
    call_peak_memory_mb,
    interleaved_seconds,
    neuron_timing,
    snn_vs_ann,
    synthetic_batch,
    task_of,
)
from spikeformer_mm.ops import MultiStepLIF, SFANeuron, SpikingNeuron

REPO = Path(__file__).resolve().parents[1]
META_15M = REPO / 'configs/meta_spikeformer/meta-spikeformer-15m_8xb128-lamb-200e_in1k.py'
E_10M = REPO / 'configs/e_spikeformer/e-spikeformer-10m_8xb256-lamb-200e_in1k.py'
SEG_META_15M = REPO / 'configs/fpn/spike-fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512.py'
MASK_RCNN_TINY = REPO / 'tests/configs/mask-rcnn_tiny_spike-fpn_coco-mini.py'
TINY_ARCH = "arch=dict(_delete_=True, embed_dims=[16, 32, 64, 96])"


def tiny_classifier_config(tmp_path: Path, base: Path) -> Path:
    """``base`` (a real ImageNet config) with a tiny backbone and a 10-class head."""
    path = tmp_path / f'tiny_{base.stem}.py'
    path.write_text(f"_base_ = '{base}'\n"
                    f"model = dict(backbone=dict({TINY_ARCH}), head=dict(in_channels=96, num_classes=10))\n")
    return path


def tiny_segmentor_config(tmp_path: Path) -> Path:
    """The Meta-SpikeFormer 15M spike-FPN segmentor with a tiny backbone, 16-channel neck/head, no pretrained."""
    path = tmp_path / 'tiny_seg.py'
    path.write_text(f"_base_ = '{SEG_META_15M}'\n"
                    f"model = dict(backbone=dict({TINY_ARCH}, init_cfg=None),\n"
                    "             neck=dict(in_channels=[8, 16, 32, 96], out_channels=16),\n"
                    "             decode_head=dict(in_channels=[16] * 4, channels=16))\n")
    return path


def build(config: Path):
    cfg = Config.fromfile(str(config))
    init_default_scope(cfg.default_scope)
    return cfg, ROOT_MODELS.build(cfg.model)


@pytest.mark.parametrize('base', [META_15M, E_10M], ids=['meta-spikeformer', 'e-spikeformer'])
def test_ann_twin_swaps_every_neuron_for_a_relu_and_nothing_else(tmp_path, base):
    torch.manual_seed(0)
    cfg, model = build(tiny_classifier_config(tmp_path, base))
    neurons = sum(isinstance(m, SpikingNeuron) for m in model.modules())
    relus = sum(isinstance(m, nn.ReLU) for m in model.modules())
    params = sum(p.numel() for p in model.parameters())
    keys = list(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        snn_feats = model.eval().backbone(x)
        snn_out = model(x, mode='tensor')

    assert ann_twin(model) is model
    assert neurons > 20 and not any(isinstance(m, SpikingNeuron) for m in model.modules())
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == relus + neurons
    assert sum(p.numel() for p in model.parameters()) == params
    assert list(model.state_dict()) == keys
    with torch.no_grad():
        ann_feats = model.backbone(x)
        ann_out = model(x, mode='tensor')
    assert [f.shape for f in ann_feats] == [f.shape for f in snn_feats]
    assert ann_out.shape == snn_out.shape == (2, 10)
    # the first stage's output differs: the ReLUs pass real values where neurons emitted spikes
    assert not torch.equal(ann_feats[-1], snn_feats[-1])


def test_ann_twin_reports_models_without_neurons():
    with pytest.raises(ValueError, match=r'Sequential has no spiking neuron \(a SpikingNeuron, e.g. MultiStepLIF'):
        ann_twin(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    with pytest.raises(ValueError, match='not a neuron itself'):
        ann_twin(MultiStepLIF())


def test_call_peak_memory_counts_what_the_call_allocates():
    torch.manual_seed(0)
    big = torch.ones(50 * 2**20 // 4)  # 50 MB, freed before the measured call: must not hide its allocations
    del big

    def allocate_and_free():
        a = torch.randn(32 * 2**20 // 4)  # 32 MB
        b = a * 2  # + 32 MB at the peak
        return float(b[0])

    peak, resident = call_peak_memory_mb(allocate_and_free, torch.device('cpu'))
    assert 62 <= peak <= 72, peak
    assert resident > 50  # the interpreter, torch and its libraries
    with pytest.raises(ValueError, match='cpu or cuda'):
        call_peak_memory_mb(allocate_and_free, torch.device('meta'))


def test_interleaved_timing_alternates_the_functions_after_warm_up():
    calls = []
    times = interleaved_seconds([lambda: calls.append('a'), lambda: calls.append('b')], warmup=2, repeats=3)
    assert calls == ['a', 'a', 'b', 'b'] + ['a', 'b'] * 3
    assert len(times) == 2 and all(len(t) == 3 and min(t) >= 0 for t in times)
    with pytest.raises(ValueError, match='need warmup >= 0 and repeats >= 1, got warmup=1, repeats=0'):
        interleaved_seconds([lambda: None], warmup=1, repeats=0)


def test_task_comes_from_the_default_scope():
    assert [task_of(scope) for scope in ('mmpretrain', 'mmdet', 'mmseg')] == ['classifier', 'detector', 'segmentor']
    with pytest.raises(ValueError, match="default_scope=None: expected one of mmpretrain, mmdet, mmseg"):
        task_of(None)
    with pytest.raises(ValueError, match="task must be one of classifier, detector, segmentor, got 'tracker'"):
        synthetic_batch('tracker', None, 1, 32, 32)


@pytest.mark.parametrize('which', ['detector', 'segmentor'])
def test_measure_trains_detectors_and_segmentors_on_synthetic_batches(tmp_path, which, one_thread):
    """The worker's measurement of one model, in this process, for the two dense tasks."""
    torch.manual_seed(0)
    config = MASK_RCNN_TINY if which == 'detector' else tiny_segmentor_config(tmp_path)
    spec = dict(config=str(config), cfg_options={}, model='snn', T=1, batch=2, resolution=[32, 48],
                threads=1, warmup=1, repeats=1, device='cpu', fuse_conv_bn=False)
    snn = Measurement(spec)
    assert snn.figures['task'] == which and snn.figures['peak_mem_mb'] > 0
    assert 'SFANeuron' in snn.figures['neuron_backend']
    assert snn.seconds('train') > 0 and snn.seconds('infer') > 0
    usage = snn.last_call_usage  # of the inference call just timed
    assert isinstance(usage['page_faults'], int) and usage['page_faults'] >= 0 and usage['system_s'] >= 0
    assert not snn.model.training and snn.seconds('train') > 0 and snn.model.training
    with pytest.raises(ValueError, match="phase must be one of \\('infer', 'train'\\), got 'test'"):
        snn.seconds('test')
    twin = Measurement(dict(spec, model='ann'))
    assert twin.figures['params'] == snn.figures['params']
    assert twin.figures['neuron_backend'] == 'none (no spiking neuron)'


def test_measure_counts_the_page_faults_of_the_timed_call(tmp_path, one_thread):
    """A call that touches 256 MB of fresh memory faults at least once per 2 MB (huge pages) in its usage."""
    spec = dict(config=str(tiny_classifier_config(tmp_path, META_15M)), cfg_options={}, model='snn', T=1, batch=2,
                resolution=[32, 32], threads=1, warmup=1, repeats=1, device='cpu', fuse_conv_bn=False)
    measurement = Measurement(spec)
    measurement.seconds('train')
    measurement._train = lambda: torch.ones(64 * 2**20)  # 256 MB, more than the process ever held at once
    measurement.seconds('train')
    assert measurement.last_call_usage['page_faults'] >= 128


def test_fuse_conv_bn_times_inference_on_a_folded_copy(tmp_path, one_thread):
    """``--fuse-conv-bn``: inference runs on a copy with every BatchNorm of the backbone folded into its conv, in
    eval mode; training keeps running on the model itself, BatchNorms and all."""
    spec = dict(config=str(tiny_classifier_config(tmp_path, E_10M)), cfg_options={}, model='snn', T=2, batch=2,
                resolution=[32, 32], threads=1, warmup=1, repeats=1, device='cpu', fuse_conv_bn=True)
    measurement = Measurement(spec)

    def batch_norms(module):
        return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())

    fused, model = measurement._infer_model, measurement.model
    assert fused is not model and batch_norms(fused) == 0 and batch_norms(model) > 0
    calls = []
    fused.register_forward_hook(lambda module, args, out: calls.append(module.training))
    assert measurement.seconds('train') > 0 and model.training and calls == []
    assert measurement.seconds('infer') > 0 and calls == [False] and not model.training
    plain = Measurement(dict(spec, fuse_conv_bn=False))
    assert plain._infer_model is plain.model


def test_neuron_backend_report_follows_the_implementation_selection(monkeypatch):
    """On CUDA, LIF neurons run spikingjelly's kernel unless pinned to 'torch'; SFA runs the fused one there; on
    CPU both run the C++ kernels (unless they are off or failed to build)."""
    from spikeformer_mm.benchmark import neuron_backend
    from spikeformer_mm.ops import cpp_kernels
    monkeypatch.setattr(neuron_backend, 'neuron_implementation', lambda kind, device: dict(implementation='triton'))
    model = nn.Sequential(MultiStepLIF(), nn.Conv2d(2, 2, 1), MultiStepLIF(), SFANeuron())
    fused = 'fused PyTorch kernel, (eager|torch.compile)'
    cuda, cpu = torch.device('cuda'), torch.device('cpu')
    assert re.fullmatch(f'MultiStepLIF x2: spikingjelly triton kernel; SFANeuron x1: {fused}.*',
                        neuron_backend.describe_neuron_backend(model, cuda))
    cpp = r'C\+\+ kernel \([A-Z0-9_]+\) for float32'
    lif_cpu, sfa_cpu = (cpp if cpp_kernels.module(kernel) else fused for kernel in ('lif', 'sfa'))
    assert re.fullmatch(f'MultiStepLIF x2: {lif_cpu}.*; SFANeuron x1: {sfa_cpu}.*',
                        neuron_backend.describe_neuron_backend(model, cpu))
    monkeypatch.setattr(cpp_kernels, '_modules', dict(lif=None, sfa=None))  # off or failed to build
    assert re.fullmatch(f'MultiStepLIF x2: {fused}.*; SFANeuron x1: {fused}.*',
                        neuron_backend.describe_neuron_backend(model, cpu))
    for lif in (model[0], model[2]):
        lif.backend = 'torch'
    assert neuron_backend.describe_neuron_backend(model, cuda).startswith('MultiStepLIF x2: fused PyTorch kernel')


def test_benchmark_tool_end_to_end(tmp_path):
    """tools/benchmark.py on a tiny Meta-SpikeFormer at T=1 and T=2: four worker subprocesses, table and JSON."""
    config = tiny_classifier_config(tmp_path, META_15M)
    out = tmp_path / 'bench.json'
    env = dict(os.environ, SPIKEFORMER_COMPILE='0')
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark.py', str(config), '--T', '1', '2', '--batch', '2', '--resolution', '64',
         '--threads', '1', '--warmup', '1', '--repeats', '2', '--json', str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    report = json.loads(out.read_text())
    assert (report['task'], report['device'], report['threads'], report['batch'], report['resolution']) == \
        ('classifier', 'cpu', 1, 2, [64, 64])
    assert report['fuse_conv_bn'] is False and 'inference: the model as trained' in proc.stdout
    _, model = build(config)
    neurons = sum(isinstance(m, MultiStepLIF) for m in model.modules())
    assert report['neuron_backend'] == f'MultiStepLIF x{neurons}: fused PyTorch kernel, eager'
    assert [entry['T'] for entry in report['results']] == [1, 2]
    for entry in report['results']:
        for model in ('snn', 'ann'):
            figures = entry[model]
            assert figures['train_step_s'] > 0 and figures['infer_images_per_s'] > 0
            assert figures['peak_mem_mb'] > 0
        assert entry['snn']['params'] == entry['ann']['params']
        snn, ann = entry['snn']['rounds'][0]['seconds'], entry['ann']['rounds'][0]['seconds']
        assert len(snn['train']) == len(snn['infer']) == 2
        paired = {'train_step': sorted(s / a for s, a in zip(snn['train'], ann['train'])),  # calls of one turn
                  'inference': sorted(s / a for s, a in zip(snn['infer'], ann['infer']))}
        ratios = dict(entry['ratios'])
        quartiles = ratios.pop('quartiles')
        for metric, r in paired.items():
            assert quartiles[metric] == pytest.approx([0.75 * r[0] + 0.25 * r[1], 0.25 * r[0] + 0.75 * r[1]])
        assert ratios == pytest.approx(dict({metric: statistics.median(r) for metric, r in paired.items()},
                                            memory=entry['snn']['peak_mem_mb'] / entry['ann']['peak_mem_mb'],
                                            process_memory=entry['snn']['process_peak_mb'] /
                                            entry['ann']['process_peak_mb']))
        for figures in (entry['snn'], entry['ann']):  # the process's peak: the step's on top of the resident
            assert figures['process_peak_mb'] == pytest.approx(figures['peak_mem_mb'] + figures['resident_mem_mb'])
        assert entry['snn']['train_step_s'] == pytest.approx(statistics.median(snn['train']))
        for figures in (entry['snn'], entry['ann']):  # per training step: median page faults and system seconds
            (r,) = figures['rounds']
            assert len(r['page_faults']['train']) == len(r['system_s']['infer']) == 2
            assert figures['train_page_faults'] == statistics.median(r['page_faults']['train']) >= 0
            assert figures['train_system_s'] == pytest.approx(statistics.median(r['system_s']['train']))
        assert entry['snn']['infer_images_per_s'] == pytest.approx(2 / statistics.median(snn['infer']))
    (scaling,) = report['time_scaling']
    t1, t2 = report['results']
    assert scaling['T'] == 2
    assert scaling['snn']['train_step'] == pytest.approx(statistics.median(
        b / a for a, b in zip(t1['snn']['rounds'][0]['seconds']['train'], t2['snn']['rounds'][0]['seconds']['train'])))
    assert t2['snn']['peak_mem_mb'] > t1['snn']['peak_mem_mb']  # twice the activations
    assert '| 1 | SNN / ANN |' in proc.stdout and '| 2 / 1 | SNN |' in proc.stdout
    assert '| page faults / train step | system s / train step |' in proc.stdout
    assert re.search(r'T=2 / T=1 SNN: train_step \d+\.\d\d-\d+\.\d\d, inference', proc.stdout)


def test_workers_take_turns_and_ratios_pair_calls_of_the_same_turn(tmp_path, monkeypatch):
    """Per round: every (model, T) worker sets up in turn, then each repeat times one call of every worker,
    starting one further on; a machine that slows down turn by turn leaves the paired ratios exact."""
    benchmark = load_tool('benchmark')
    log, clock = [], iter(range(1, 1000))
    cost = {('snn', 1): 1.1, ('ann', 1): 1.0, ('snn', 4): 4.4, ('ann', 4): 4.0}

    class FakeWorker:
        def __init__(self, spec):
            self.model, self.T, self.spec = spec['model'], spec['T'], spec

        def request(self, message):
            log.append((self.model, self.T, message if isinstance(message, str) else 'setup'))
            if isinstance(message, dict):
                return dict(peak_mem_mb=100.0 * self.T + (self.model == 'snn'), resident_mem_mb=1.0, params=5,
                            task='classifier', cpu_allocator='default', neuron_backend='none')
            slowdown = next(clock)  # every call finds the machine slower than the last
            seconds = cost[self.model, self.T] * slowdown * (1 if message == 'train' else 0.5)
            return dict(seconds=seconds, page_faults=10 * self.T, system_s=0.01 * self.T)

        def close(self):
            log.append((self.model, self.T, 'close'))

    monkeypatch.setattr(snn_vs_ann, 'Worker', FakeWorker)
    args = benchmark.parse_args([str(tiny_classifier_config(tmp_path, META_15M)), '--T', '1', '4', '--rounds', '2',
                                 '--warmup', '1', '--repeats', '2', '--device', 'cpu'])
    report = snn_vs_ann.run_benchmark(args)
    first_round = log[:len(log) // 2]
    workers = [('snn', 1), ('ann', 1), ('snn', 4), ('ann', 4)]
    assert first_round == (
        [w + ('setup',) for w in workers] + [w + ('infer',) for w in workers]  # set-up, then one warm-up each
        + [w + ('infer',) for w in workers] + [w + ('infer',) for w in workers[1:] + workers[:1]]
        + [w + ('train',) for w in workers] * 2 + [w + ('train',) for w in workers[1:] + workers[:1]]
        + [w + ('close',) for w in workers])
    assert log[len(log) // 2][:2] == ('ann', 1)  # the twin starts the second round
    t1, t4 = report['results']
    # the slowdown between turns is far above 10%; pairing keeps the ratios to the cost model within it
    assert t1['ratios']['train_step'] == pytest.approx(1.1, rel=0.1)
    assert t1['ratios']['inference'] == pytest.approx(1.1, rel=0.1)
    assert t1['ratios']['memory'] == pytest.approx(101 / 100)
    assert t1['ratios']['process_memory'] == pytest.approx(102 / 101)  # 1 MB resident in every worker
    assert t4['snn']['process_peak_mb'] == 402
    assert (t4['snn']['train_page_faults'], t4['snn']['train_system_s']) == (40, pytest.approx(0.04))
    assert report['time_scaling'][0]['ann']['train_step'] == pytest.approx(4.0, rel=0.1)
    assert len(t1['snn']['rounds']) == 2 and len(t1['snn']['rounds'][1]['seconds']['train']) == 2
    assert report['rounds'] == 2 and 'the workers taking turns' in snn_vs_ann.format_report(report)


def test_a_failing_worker_is_reported_with_its_error(tmp_path):
    benchmark = load_tool('benchmark')
    args = benchmark.parse_args([str(tiny_classifier_config(tmp_path, META_15M)), '--device', 'cpu',
                                 '--cfg-options', 'model.backbone.arch=99M'])
    args.device = 'cpu'
    with pytest.raises(RuntimeError, match=r"(?s)measuring snn at T=1 failed \(exit 1\).*99M"):
        snn_vs_ann.measure_round(args, 0)


def test_benchmark_tool_rejects_bad_settings(tmp_path, capsys):
    benchmark = load_tool('benchmark')
    config = tiny_classifier_config(tmp_path, META_15M)
    for argv, message in (([str(tmp_path / 'none.py')], 'config file not found'),
                          ([str(config), '--warmup', '0'], '--warmup must be >= 1'),
                          ([str(config), '--rounds', '0'], '--rounds must be >= 1'),
                          ([str(config), '--T', '1', '1'], '--T takes distinct time-step counts >= 1'),
                          ([str(config), '--resolution', '1', '2', '3'], '--resolution takes one or two')):
        with pytest.raises(SystemExit):
            benchmark.parse_args(argv)
        assert message in capsys.readouterr().err


def test_neuron_benchmark_reference_loop_is_the_lif():
    """The neuron benchmark's reference row computes MultiStepLIF's spikes and gradients."""
    torch.manual_seed(0)
    per_step_lif = neuron_timing.per_step_lif
    x = (torch.rand(4, 3, 5, 7) * 2.5).requires_grad_()
    grad = torch.randn(4, 3, 5, 7)
    reference = per_step_lif(x)
    (expected,) = torch.autograd.grad(reference, x, grad)
    spikes = MultiStepLIF(backend='torch')(x)
    (actual,) = torch.autograd.grad(spikes, x, grad)
    assert 0 < reference.mean() < 1
    assert torch.equal(spikes, reference)
    torch.testing.assert_close(actual, expected)


def test_neuron_benchmark_names_its_kernels_and_ratios():
    text = neuron_timing.format_rows([('MultiStepLIF (T=4)', (4, 2), 0.003, 'ReLU', 0.002, 1.25, '<= 3x')], threads=2)
    assert re.search(r'^kernels: MultiStepLIF x1: .+; SFANeuron x1: .+$', text, re.M)
    assert '| MultiStepLIF (T=4) | [4, 2] | 3.00 | ReLU | 2.00 | 1.25x | <= 3x |' in text


def test_neuron_benchmark_times_the_restore_of_a_saved_sfa_output(monkeypatch):
    """The restore row times unpacking a 1-byte SFA output, which gives back that output's float values."""
    unpack = neuron_timing.unpack_saved_tensor
    restored = []
    monkeypatch.setattr(neuron_timing, 'unpack_saved_tensor',
                        lambda packed: restored.append(unpack(packed)) or restored[-1])
    shape = (2, 3, 4, 5)
    times, cast_times = neuron_timing.restore_times(shape, warmup=1, repeats=2)
    assert len(times) == len(cast_times) == 2 and min(times + cast_times) > 0 and len(restored) == 3
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 5  # the tool's input
    with torch.no_grad():
        expected = SFANeuron(D=4)(x)
    assert restored[0].dtype == torch.float32 and torch.equal(restored[0], expected)
    assert expected.unique().tolist() == [0, 0.25, 0.5, 0.75, 1]


def test_neuron_benchmark_ratio_is_the_median_of_paired_ratios():
    """A drift that slows both calls of a repeat alike leaves the ratio alone; the times are plain medians."""
    seconds, baseline, baseline_seconds, ratio = neuron_timing.summarize([2, 4, 8], [1, 2, 4], 'ReLU')
    assert (seconds, baseline, baseline_seconds, ratio) == (4, 'ReLU', 2, 2.0)
    assert neuron_timing.summarize([1, 10, 6], [1, 2, 8], 'ReLU')[3] == 1.0  # ratios 1, 5, 0.75: not 6 / 2


def test_neuron_benchmark_times_forward_alone_under_no_grad(monkeypatch):
    """The inference row runs the neuron and the ReLU without autograd: no backward pass, no graph."""
    grad_modes = []

    def op(x):
        grad_modes.append(torch.is_grad_enabled())
        return x * 2

    neuron, relu = neuron_timing.forward_backward_times(op, (2, 3), warmup=1, repeats=2, backward=False)
    assert len(neuron) == len(relu) == 2 and grad_modes == [False] * 3
    neuron_timing.forward_backward_times(op, (2, 3), warmup=1, repeats=2)
    assert grad_modes[3:] == [True] * 3


def test_profile_time_steps_lists_each_ops_time_at_every_T(tmp_path, capsys):
    """tools/analysis_tools/profile_time_steps.py: both models built as the benchmark builds them, profiled in
    turns; every listed op has its time per step at each T and the ratio of the two."""
    tool = load_tool('analysis_tools/profile_time_steps')
    config = str(tiny_classifier_config(tmp_path, META_15M))
    tool.main([config, '--T', '1', '2', '--steps', '1', '--batch', '2', '--resolution', '32', '--threads', '1',
               '--top', '8'])
    out = capsys.readouterr().out
    total = re.search(r'T=1 (\d+), T=2 (\d+); T=2 / T=1: (\d+\.\d\d)x', out)
    assert total and float(total[3]) == pytest.approx(int(total[2]) / int(total[1]), abs=0.02)
    rows = re.findall(r'^\| (\S[^|]*) \| (\d+\.\d) \| (\d+\.\d) \| (\d+\.\d\d)x \|$', out, re.M)
    assert len(rows) == 8 and 'aten::convolution_backward' in [op for op, *_ in rows]
    for op, t1, t2, ratio in rows:
        if float(t1) >= 1:  # a ratio of rounded small times would not match
            assert float(ratio) == pytest.approx(float(t2) / float(t1), rel=0.1), op
    with pytest.raises(SystemExit):
        tool.parse_args([config, '--T', '4'])  # nothing to compare with
    assert '--T takes two or more distinct time-step counts' in capsys.readouterr().err


def test_profile_time_steps_compares_the_twin_and_the_snn_in_one_process(tmp_path, capsys):
    """``--model ann snn --T 1``: both models in turns, one column each; the neuron ops appear in the SNN's
    column only, and the wall-time line gives the median paired ratio within the range of the calls' ratios."""
    tool = load_tool('analysis_tools/profile_time_steps')
    config = str(tiny_classifier_config(tmp_path, E_10M))
    tool.main([config, '--model', 'ann', 'snn', '--T', '1', '--steps', '3', '--warmup', '2', '--batch', '2',
               '--resolution', '32', '--threads', '1', '--top', '1000'])
    out = capsys.readouterr().out
    assert 'ann and snn, batch 2, 32x32, 1 threads, 3 profiled training steps per model and T after 2 untimed' in out
    assert re.search(r'self CPU time per training step \(ms\): ann T=1 \d+, snn T=1 \d+; snn T=1 / ann T=1: ', out)
    wall = re.search(r'wall time per training step \(s, median\): ann T=1 (\d\.\d+), snn T=1 (\d\.\d+); '
                     r'snn T=1 / ann T=1, calls of the same turn: (\d+\.\d+)x \(from (\d+\.\d+) to (\d+\.\d+)\)', out)
    assert wall and float(wall[4]) <= float(wall[3]) <= float(wall[5])
    assert '| op | ann T=1 (ms) | snn T=1 (ms) | snn T=1 / ann T=1 |' in out
    rows = dict(re.findall(r'^\| (\S[^|]*) \| \d+\.\d \| \d+\.\d \| (\d+\.\d\d|inf)x \|$', out, re.M))
    assert rows['_SFAFunction'] == 'inf' and rows['_SFAFunctionBackward'] == 'inf'  # no SFA in the twin
    assert 'aten::threshold_backward' not in rows  # the twin's ReLU backward: not among the SNN's ops
    with pytest.raises(SystemExit):
        tool.parse_args([config, '--model', 'snn', 'snn', '--T', '1'])
    assert '--model takes snn, ann or both once' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args([config, '--model', 'ann', 'snn', '--T', '1', '--warmup', '0'])
    assert '--warmup must be >= 1, got 0' in capsys.readouterr().err


def test_profile_time_steps_profiles_the_inference_call(tmp_path, capsys):
    """``--phase infer``: the benchmark's inference call (eval, no grad) is profiled instead of a training step, so
    the convolutions' forward passes are listed and no backward or optimizer op is."""
    tool = load_tool('analysis_tools/profile_time_steps')
    config = str(tiny_classifier_config(tmp_path, E_10M))
    tool.main([config, '--phase', 'infer', '--T', '1', '3', '--steps', '1', '--batch', '2', '--resolution', '32',
               '--threads', '1', '--top', '1000'])
    out = capsys.readouterr().out
    assert '1 profiled inference calls per model and T' in out
    assert re.search(r'self CPU time per inference call \(ms\): T=1 \d+, T=3 \d+; T=3 / T=1: \d+\.\d\dx', out)
    ops = re.findall(r'^\| (\S[^|]*) \| \d+\.\d \| \d+\.\d \| (?:\d+\.\d\d|inf)x \|$', out, re.M)
    assert 'aten::convolution' in ops
    assert not [op for op in ops if 'backward' in op.lower() or 'lamb' in op.lower() or 'Optimizer' in op], ops
    with pytest.raises(SystemExit):
        tool.parse_args([config, '--fuse-conv-bn'])  # training runs the model as it is: nothing to fold
    assert '--fuse-conv-bn folds the BatchNorms for inference' in capsys.readouterr().err


def test_profile_time_steps_by_shape_lines_up_each_layer_across_T(tmp_path, capsys):
    """``--by-shape``: one row per op and input shapes, the batch written ``N``, so that the same convolution has a
    time at every T: every convolution of the model (input channels, output channels, kernel) has its row of
    aten::convolution, the op that all of them go through, and the attention products theirs."""
    tool = load_tool('analysis_tools/profile_time_steps')
    config = str(tiny_classifier_config(tmp_path, E_10M))
    tool.main([config, '--phase', 'infer', '--T', '1', '2', '--steps', '1', '--batch', '2', '--resolution', '32',
               '--threads', '1', '--top', '1000', '--by-shape'])
    out = capsys.readouterr().out
    rows = re.findall(r'^\| aten::convolution (\[N, [^|]*) \| \d+\.\d \| \d+\.\d \| (\d+\.\d\d|inf)x \|$',
                      out, re.M)
    listed = set()
    for shapes, ratio in rows:
        data, weight = [shape.split(', ') for shape in re.findall(r'\[([^\]]*)\]', shapes)[:2]]
        listed.add((int(data[1]), int(weight[0]), tuple(int(k) for k in weight[2:])))
        assert ratio != 'inf', shapes  # the batch is not in the row's name: the T=1 call has the same row
    _, model = build(Path(config))
    assert listed == {(conv.in_channels, conv.out_channels, conv.kernel_size) for conv in model.modules()
                      if isinstance(conv, nn.Conv2d)}
    assert not re.search(r'^\| aten::convolution \|', out, re.M)  # no row without shapes
    # the attention products: both operands lead with the batch (T * B * heads)
    products = re.findall(r'^\| aten::bmm ([^|]*) \| \d+\.\d \| \d+\.\d \| (\d+\.\d\d|inf)x \|$', out, re.M)
    assert products and all(re.fullmatch(r'\[N, \d+, \d+\] \[N, \d+, \d+\]', shapes) and ratio != 'inf'
                            for shapes, ratio in products), products
