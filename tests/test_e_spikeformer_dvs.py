"""E-SpikeFormer's event-camera models: the integer IF neuron, the DVS backbone, its configs and a training step."""
import copy
import importlib
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from test_dvs import write_gesture_root

from spikeformer_mm.datasets import DVS128GestureDataset
from spikeformer_mm.models.backbones import ESpikeFormerDVS
from spikeformer_mm.ops import IntegerIFNeuron, SFANeuron, build_neuron
from spikeformer_mm.ops.spike_storage import pack_saved_tensor, unpack_saved_tensor

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'e_spikeformer'
GESTURE = CONFIGS / 'e-spikeformer-dvs-5.6m-t8_4xb16-adamw-200e_dvs128-gesture.py'
CIFAR10_DVS = CONFIGS / 'e-spikeformer-dvs-5.6m-t8_4xb16-adamw-200e_cifar10-dvs.py'
HARDVS = CONFIGS / 'e-spikeformer-dvs-19m-t8_3xb24-adamw-100e_hardvs.py'
TINY = dict(embed_dims=(8, 16, 16, 16), depth=4, num_heads=2)  # 3 + 1 transformer blocks


def reference_if(x, D, norm, tie, window, stateful, detach_reset):
    """The neuron written as a per-step loop whose gradients autograd derives: the level has the straight-through
    gradient 1 inside the window, the reset subtracts it (detached or not)."""
    v, outs = torch.zeros_like(x[0]), []
    for t in range(x.shape[0]):
        h = v + x[t] if stateful else x[t]
        c = h.clamp(0, D)
        level = (torch.round(c) if tie == 'even' else torch.floor(c + 0.5)).detach()
        inside = ((h >= 0) & (h <= D)) if window == 'inclusive' else ((h > 0) & (h < D))
        s = level + (h - h.detach()) * inside
        outs.append(s / norm)
        v = h - (s.detach() if detach_reset else s)
    return torch.stack(outs)


def build(scope: str, cfg: dict):
    with DefaultScope.overwrite_default_scope(scope):
        return importlib.import_module(f'{scope}.registry').MODELS.build(cfg)


# ---------------------------------------------------------------- the neuron


@pytest.mark.parametrize('tie,window,stateful,detach_reset',
                         list(itertools.product(('even', 'up'), ('inclusive', 'strict'), (True, False), (False, True))))
def test_integer_if_matches_a_per_step_loop_values_and_gradients(tie, window, stateful, detach_reset):
    torch.manual_seed(0)
    # quarter steps: exact ties (x.5) and exact window edges (0, D) occur, before and after integration
    x = (torch.randint(-8, 25, (6, 4, 5)) / 4).requires_grad_()
    grad = torch.randn(6, 4, 5)
    for D, norm in ((4, 8.0), (3, 1.0)):
        neuron = IntegerIFNeuron(D=D, norm=norm, tie=tie, window=window, stateful=stateful,
                                 detach_reset=detach_reset)
        out = neuron(x)
        (g,) = torch.autograd.grad(out, x, grad)
        x_ref = x.detach().clone().requires_grad_()
        ref = reference_if(x_ref, D, norm, tie, window, stateful, detach_reset)
        (g_ref,) = torch.autograd.grad(ref, x_ref, grad)
        torch.testing.assert_close(out, ref, rtol=0, atol=0)
        torch.testing.assert_close(g, g_ref, rtol=1e-6, atol=1e-6)
        with torch.no_grad():  # the inference path computes the same levels
            torch.testing.assert_close(neuron(x), ref, rtol=0, atol=0)


def test_integer_if_integrates_over_time_and_resets_softly():
    x = torch.tensor([0.3, 0.3, 0.3, 0.3, 2.6, 7.0, 0.0]).view(7, 1)
    # h: 0.3 -> 0 (v 0.3); 0.6 -> 1 (v -0.4); -0.1 -> 0; 0.2 -> 0; 2.8 -> 3 (v -0.2); 6.8 -> 4 (v 2.8); 2.8 -> 3
    expected = torch.tensor([0, 1, 0, 0, 3, 4, 3.0]).view(7, 1)
    torch.testing.assert_close(IntegerIFNeuron(D=4, norm=1)(x), expected, rtol=0, atol=1e-6)
    # without a state every step starts from rest: the reference's computation, i.e. SFA
    torch.testing.assert_close(IntegerIFNeuron(D=4, norm=1, stateful=False)(x),
                               torch.tensor([0, 0, 0, 0, 3, 4, 0.0]).view(7, 1))


def test_tie_rule_even_or_up():
    halves = torch.tensor([[0.5, 1.5, 2.5, 3.5]])
    assert IntegerIFNeuron(D=4, norm=1, tie='even')(halves).tolist() == [[0, 2, 2, 4]]
    assert IntegerIFNeuron(D=4, norm=1, tie='up')(halves).tolist() == [[1, 2, 3, 4]]
    # a tie after integration: 0.5 then 0.5 -> even: 0 (keeps 0.5), then 1; up: 1 (keeps -0.5), then 0
    steps = torch.tensor([[0.5], [0.5]])
    assert IntegerIFNeuron(D=4, norm=1, tie='even')(steps).flatten().tolist() == [0, 1]
    assert IntegerIFNeuron(D=4, norm=1, tie='up')(steps).flatten().tolist() == [1, 0]


def test_stateless_integer_if_is_sfa():
    torch.manual_seed(1)
    x = (torch.randn(4, 3, 6) * 3).requires_grad_()
    for tie, window in (('even', 'inclusive'), ('up', 'strict')):
        a = IntegerIFNeuron(D=4, norm=8, tie=tie, window=window, stateful=False)(x)
        b = SFANeuron(D=4, norm=8, tie=tie, window=window)(x)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(torch.autograd.grad(a.sum(), x)[0], torch.autograd.grad(b.sum(), x)[0])


def test_integer_if_is_a_registered_multi_step_neuron_with_one_byte_saved_levels():
    neuron = build_neuron(dict(type='IntegerIFNeuron', D=4, norm=8))
    assert isinstance(neuron, IntegerIFNeuron) and neuron.multi_step and (neuron.D, neuron.norm) == (4, 8.0)
    assert not build_neuron(dict(type='spikeformer_mm.IntegerIFNeuron', stateful=False)).multi_step
    out = neuron(torch.randn(3, 2, 5, requires_grad=True) * 4)
    packed = pack_saved_tensor(out[1:])
    assert packed[0].dtype == torch.uint8
    torch.testing.assert_close(unpack_saved_tensor(packed), out[1:], rtol=0, atol=0)


def test_bad_integer_if_arguments_name_the_problem():
    with pytest.raises(ValueError, match='integer D >= 1'):
        IntegerIFNeuron(D=0)
    with pytest.raises(ValueError, match='integer D >= 1'):
        IntegerIFNeuron(D=2.5)
    with pytest.raises(ValueError, match='norm > 0'):
        IntegerIFNeuron(norm=0)
    with pytest.raises(ValueError, match=r"tie rule must be one of \('even', 'up'\)"):
        IntegerIFNeuron(tie='half')
    with pytest.raises(ValueError, match=r"window must be one of \('inclusive', 'strict'\)"):
        IntegerIFNeuron(window='open')
    with pytest.raises(ValueError, match=r'shape \[T, \.\.\.\] with at least 2 dims'):
        IntegerIFNeuron()(torch.ones(3))


# ---------------------------------------------------------------- the backbone


@pytest.mark.parametrize('arch,num_classes,blocks,params', [
    ('19M', 300, (6, 2), 18_740_004),  # Efficient_Spiking_Transformer_scaling_8_19M (HARDVS)
    ('5.6M', 11, (1, 0), 5_604_315),  # Efficient_Spiking_Transformer_scaling_2_8M_gesture
])
def test_parameter_counts_are_the_reference_factories(arch, num_classes, blocks, params):
    with torch.device('meta'):
        backbone = ESpikeFormerDVS(arch)
    assert tuple(len(backbone.stages[i].blocks) for i in (3, 4)) == blocks
    head = 360 * num_classes + num_classes
    assert sum(p.numel() for p in backbone.parameters()) + head == params
    block = backbone.stages[3].blocks[0]
    assert [name for name, _ in block.named_parameters(recurse=False)] == [
        'layer_scale1', 'layer_scale2', 'layer_scale3']


def test_depth_splits_into_three_quarters_and_one_quarter():
    backbone = ESpikeFormerDVS(dict(TINY, depth=7))  # int(5.25), int(1.75)
    assert backbone.depths == (1, 1, 2, 5, 1)
    assert all(torch.equal(p, torch.full_like(p, 1e-6)) for n, p in backbone.named_parameters() if 'layer_scale' in n)


@pytest.fixture(scope='module')
def tiny_backbones():
    torch.manual_seed(0)
    model = ESpikeFormerDVS(TINY, T=3, out_indices=(0, 1, 2, 3, 4), keep_time=True).eval()
    stateless = copy.deepcopy(model)
    for module in stateless.modules():
        if isinstance(module, IntegerIFNeuron):
            module.stateful = False
    return model, stateless


def test_event_frames_are_read_time_major_and_outputs_have_the_strides(tiny_backbones, one_thread):
    model, _ = tiny_backbones
    frames = torch.rand(2, 3, 2, 32, 32) * 3
    with torch.no_grad():
        outs = model(frames)
        model.keep_time = False
        averaged = model(frames)
        model.keep_time = True
    assert [tuple(o.shape) for o in outs] == [(3, 2, 4, 16, 16), (3, 2, 8, 8, 8), (3, 2, 16, 4, 4),
                                              (3, 2, 16, 2, 2), (3, 2, 16, 2, 2)]
    for a, o in zip(averaged, outs):
        torch.testing.assert_close(a, o.mean(0))
    # The encoding conv sees each frame as it is (no repetition): step t of stage 0 depends on frame t
    changed = frames.clone()
    changed[:, 2] = 0
    with torch.no_grad():
        first = model(changed)[0]
    torch.testing.assert_close(first[:2], outs[0][:2])
    assert not torch.allclose(first[2], outs[0][2])


def test_stateful_neurons_carry_information_forward_in_time(tiny_backbones, one_thread):
    stateful, stateless = tiny_backbones
    frames = torch.rand(2, 3, 2, 32, 32) * 3
    changed = frames.clone()
    changed[:, 0] += 1.0  # only the first frame differs
    with torch.no_grad():
        a, b = stateful(frames)[2], stateful(changed)[2]  # stage 2: its neurons fire in this untrained network
        c, d = stateless(frames)[2], stateless(changed)[2]
    assert not torch.allclose(a[1:], b[1:])  # later steps see the first frame through the membrane
    torch.testing.assert_close(c[1:], d[1:])  # the reference's computation: T is one more batch axis


def test_bad_backbone_configs_and_inputs_name_the_problem(tiny_backbones):
    model, _ = tiny_backbones
    with pytest.raises(KeyError, match="valid names: 19M, 5.6M"):
        ESpikeFormerDVS('8M')
    with pytest.raises(ValueError, match=r'depth must be an integer >= 0 .*int\(0.75 \* depth\)'):
        ESpikeFormerDVS(dict(TINY, depth=-1))
    with pytest.raises(KeyError, match="unknown ESpikeFormerDVS arch keys \\['depths'\\]"):
        ESpikeFormerDVS(dict(TINY, depths=(1, 1, 2, 6, 2)))
    with pytest.raises(ValueError, match=r'expects event frames \[B, T, 2, H, W\].*EventsToFrames'):
        model(torch.rand(2, 2, 32, 32))
    with pytest.raises(ValueError, match='T=3.*4 time steps.*set T to the number of frames'):
        model(torch.rand(1, 4, 2, 32, 32))
    with pytest.raises(ValueError, match='expects 2 input channels'):
        model(torch.rand(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match='divisible by 16'):
        model(torch.rand(1, 3, 2, 30, 32))


# ---------------------------------------------------------------- configs and training


def tiny_config(path: Path, T: int = 4) -> Config:
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.update(arch=TINY, T=T)
    cfg.model.head.in_channels = 16
    return cfg


def test_configs_use_the_reference_neurons_and_the_classifier_is_spike_then_mean_over_t(one_thread):
    norms = {}
    for path in (GESTURE, CIFAR10_DVS, HARDVS):
        cfg = Config.fromfile(str(path))
        norms[path.name.split('_')[-1][:-3]] = (cfg.model.backbone.neuron_cfg.norm, cfg.model.head.neuron_cfg.norm,
                                                cfg.model.head.num_classes, cfg.model.backbone.T)
    assert norms == {'dvs128-gesture': (8, 1, 11, 8), 'cifar10-dvs': (4, 1, 10, 8), 'hardvs': (1, 1, 300, 8)}
    torch.manual_seed(0)
    model = build('mmpretrain', tiny_config(GESTURE).model).eval()
    frames = torch.rand(2, 4, 2, 32, 32) * 3
    with torch.no_grad():
        logits = model(frames, mode='tensor')
        pooled = model.backbone(frames)[-1].mean((-2, -1))  # [T, B, C]
        levels = IntegerIFNeuron(D=4, norm=1)(pooled)  # integers 0..4 into the Linear, as the reference
        expected = model.head.fc(levels).mean(0)
    assert set(levels.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    torch.testing.assert_close(logits, expected)


def test_energy_counter_reads_the_integer_levels_per_step(one_thread):
    from spikeformer_mm.energy import EnergyCounter, build_report
    torch.manual_seed(0)
    model = build('mmpretrain', tiny_config(GESTURE).model).eval()
    with torch.no_grad(), EnergyCounter(model) as counter:
        model(torch.rand(2, 4, 2, 32, 32) * 6, mode='tensor')
    report = build_report(counter.state())
    assert report['images'] == 2 and report['time_steps'] == 4
    layers = {row['name']: row for row in report['layers']}
    first = layers['backbone.stages.0.downsample.conv']
    assert first['input'] == 'real' and first['mac_ops'] == first['macs'] * 4  # every frame differs
    neurons = [row for row in report['neurons'] if row['type'] == 'IntegerIFNeuron']
    assert len(neurons) == sum(isinstance(m, IntegerIFNeuron) for m in model.modules())
    assert all(row['D'] == 4 and len(row['level_hist']) == 5 and len(row['firing_rate_per_step']) == 4
               for row in neurons)
    fed = layers['backbone.stages.0.blocks.0.sep_conv.pwconv1.conv']  # by levels 0..4 / 8: SOPs count levels
    assert fed['input'] == 'integer' and fed['sops'] > 0
    assert fed['sops'] == pytest.approx(fed['macs'] * 4 * fed['input_activation'])


def test_a_training_step_on_written_gesture_files_with_the_config_s_augmentation(tmp_path, one_thread):
    torch.manual_seed(0)
    np.random.seed(0)
    write_gesture_root(tmp_path, np.random.default_rng(7), {'train': {f'user0{i}_led': [
        (1, 1000, 4000, (0, 40)), (2, 6000, 9000, (88, 128))] for i in (1, 2)}})
    cfg = tiny_config(GESTURE)
    pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    kinds = [step.type.split('.')[-1] for step in pipeline]
    assert kinds == ['LoadEvents', 'EventDrop', 'RandomEventTranslate', 'RandomTimeCrop', 'EventsToFrames',
                     'PackInputs']
    pipeline[4].num_frames = 4
    pipeline.insert(5, dict(type='spikeformer_mm.ResizeFrames', size=(32, 32)))
    dataset = DVS128GestureDataset(str(tmp_path), pipeline=pipeline)
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    model = build('mmpretrain', cfg.model)
    data = model.data_preprocessor(batch, training=True)
    assert data['inputs'].shape == (4, 4, 2, 32, 32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = model(**data, mode='loss')['loss']
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    # the gradient reaches every parameter through the integer neurons, from the head to the encoding conv (an
    # untrained network's attention output may not fire yet: its projection then gets a zero gradient)
    assert all(p.grad is not None for p in model.parameters())
    live = {n for n, p in model.named_parameters() if p.grad.abs().sum() > 0}
    assert {'head.fc.weight', 'backbone.stages.0.downsample.conv.weight', 'backbone.stages.3.blocks.0.layer_scale1',
            'backbone.stages.3.blocks.0.layer_scale3', 'backbone.stages.4.blocks.0.layer_scale1'} <= live
    assert len(live) > 0.8 * len(before)
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters() if n in live)


def test_hardvs_config_mixes_batches_with_eventmix_and_trains_on_soft_targets(one_thread):
    torch.manual_seed(0)
    np.random.seed(0)
    cfg = tiny_config(HARDVS, T=8)
    model = build('mmpretrain', cfg.model)
    assert type(model.data_preprocessor.batch_augments.augments[0]).__name__ == 'EventMix'
    from mmpretrain.structures import DataSample
    frames = [torch.rand(8, 2, 32, 32).round() for _ in range(3)]
    samples = [DataSample().set_gt_label(label) for label in (0, 5, 299)]
    data = model.data_preprocessor(dict(inputs=frames, data_samples=samples), training=True)
    scores = torch.stack([s.gt_score for s in data['data_samples']])
    assert scores.shape == (3, 300)
    torch.testing.assert_close(scores.sum(1), torch.ones(3))
    assert (scores > 0).sum(1).max() == 2  # each sample mixes its label with one partner's
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert torch.isfinite(loss)
