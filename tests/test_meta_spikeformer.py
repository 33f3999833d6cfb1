"""MetaSpikeFormer backbone, the spiking classification neck/head and the classification configs."""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from spikeformer_mm.models.backbones import MetaSpikeFormer
from spikeformer_mm.models.heads import SpikingLinearClsHead
from spikeformer_mm.models.necks import SpikingGlobalAvgPool
from spikeformer_mm.ops import SpikeMatMul

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs' / 'meta_spikeformer'
TINY = dict(embed_dims=[16, 32, 64, 96])


def tiny(**kwargs) -> MetaSpikeFormer:
    torch.manual_seed(0)
    return MetaSpikeFormer(TINY, **kwargs)


@pytest.mark.parametrize('variant, params', [('15m', 15_112_208), ('31m', 31_333_864), ('55m', 55_350_248),
                                             ('123m', 123_741_160)])
def test_classifier_configs_have_the_reference_parameter_counts(variant, params):
    for config in (f'meta-spikeformer-{variant}_8xb128-lamb-200e_in1k.py',
                   f'meta-spikeformer-{variant}-t4_8xb24-lamb-50e_in1k.py'):
        cfg = Config.fromfile(CONFIGS / config)
        with torch.device('meta'):
            model = MMPRETRAIN_MODELS.build(cfg.model)
        assert sum(p.numel() for p in model.parameters()) == params
        assert model.head.fc.out_features == 1000
        assert model.backbone.T == (4 if '-t4_' in config else 1)
        assert cfg.get('load_from') is None


def test_t4_configs_start_from_nothing_and_follow_the_finetune_recipe():
    cfg = Config.fromfile(CONFIGS / 'meta-spikeformer-55m-t4_8xb24-lamb-50e_in1k.py')
    assert cfg.optim_wrapper.optimizer.type == 'Lamb'
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(2e-5 * 192 / 256)
    assert cfg.train_cfg.max_epochs == 50 and cfg.train_dataloader.batch_size == 24


def test_all_five_outputs_have_the_documented_strides_on_a_non_square_input():
    model = tiny(T=2, out_indices=(0, 1, 2, 3, 4)).eval()
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        outs = model(x)
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 24), (2, 16, 8, 12), (2, 32, 4, 6), (2, 64, 2, 3),
                                             (2, 96, 2, 3)]
    assert model.out_channels == (8, 16, 32, 64, 96)
    model.keep_time = True
    with torch.no_grad():
        timed = model(x)
    assert [tuple(o.shape) for o in timed][-1] == (2, 2, 96, 2, 3)
    for mean, per_step in zip(outs, timed):
        torch.testing.assert_close(mean, per_step.mean(0))


def test_first_time_step_equals_a_single_step_run():
    """LIF neurons are causal and eval-mode BN is per sample: step 0 of a T=3 run is the T=1 run."""
    model = tiny(T=3, keep_time=True, out_indices=(0, 4)).eval()
    for bn in (m for m in model.modules() if isinstance(m, _BatchNorm)):
        bn.running_var.fill_(0.05)  # a gain of ~4.5 that makes every layer fire often
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        three = model(x)
        model.T = 1
        one = model(x)
    for steps, single in zip(three, one):
        torch.testing.assert_close(steps[0], single[0])
    assert not torch.equal(three[0][1], three[0][0])  # the membrane carries over, so later steps differ


def test_negative_out_indices():
    model = tiny(out_indices=(-1, -3))
    assert model.out_indices == (2, 4)
    assert model.out_channels == (32, 96)


@pytest.mark.parametrize('shape, message', [((3, 32, 32), r'expects images \[B, C, H, W\]'),
                                            ((1, 3, 40, 32), 'divisible by 16, got 40x32'),
                                            ((1, 1, 32, 32), 'expects 3 input channels')])
def test_bad_inputs_get_clear_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        tiny()(torch.rand(*shape))


def test_bad_arguments_get_clear_errors():
    with pytest.raises(KeyError, match="valid names: 15M, 31M, 55M, 123M"):
        MetaSpikeFormer('77M')
    with pytest.raises(KeyError, match=r"unknown MetaSpikeFormer arch keys \['width'\]"):
        MetaSpikeFormer(dict(embed_dims=[16, 32, 64, 96], width=3))
    with pytest.raises(ValueError, match='divisible by num_heads'):
        MetaSpikeFormer(dict(embed_dims=[16, 32, 60, 96]))
    with pytest.raises(ValueError, match=r'out_indices entries must be ints in \[-5, 4\], got 5'):
        MetaSpikeFormer(TINY, out_indices=(1, 5))
    with pytest.raises(ValueError, match='frozen_stages must be in'):
        MetaSpikeFormer(TINY, frozen_stages=5)
    with pytest.raises(ValueError, match='T .* must be an integer >= 1'):
        MetaSpikeFormer(TINY, T=0)


def test_custom_arch_takes_the_table_defaults():
    model = MetaSpikeFormer(dict(embed_dims=[16, 32, 64, 96], depths=(1, 1, 1, 2, 1)))
    assert [len(stage.blocks) for stage in model.stages] == [1, 1, 1, 2, 1]
    assert model.stages[3].blocks[0].attn.num_heads == 8
    assert model.stages[3].blocks[0].mlp.fc1.conv.out_channels == 4 * 64


def test_frozen_stages_and_norm_eval_survive_train():
    model = tiny(frozen_stages=1, norm_eval=True).train()
    for i, stage in enumerate(model.stages):
        frozen = i <= 1
        assert all(p.requires_grad != frozen for p in stage.parameters())
        assert stage.training != frozen
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert tiny().train().stages[2].downsample.bn.training


def test_drop_path_is_a_linear_schedule_and_is_applied():
    model = tiny(drop_path_rate=0.55)
    probs = [block.drop_path.drop_path.drop_prob for stage in model.stages for block in stage.blocks]
    assert probs == pytest.approx(torch.linspace(0, 0.55, 12).tolist())
    plain = tiny()
    plain.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 32, 32)
    model.eval(), plain.eval()
    torch.testing.assert_close(model(x)[0], plain(x)[0])
    model.train(), plain.train()
    torch.manual_seed(1)
    dropped = model(x)[0]
    torch.manual_seed(1)
    assert not torch.allclose(dropped, plain(x)[0])


def test_attention_multiplies_binary_spikes_and_fires_at_half_threshold():
    model = tiny().eval()
    seen = []
    for module in model.modules():
        if isinstance(module, SpikeMatMul):
            module.register_forward_hook(lambda m, args, out: seen.append(args))
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32) * 4)
    assert len(seen) == 2 * 8  # K^T V and Q (K^T V) in each of the 8 transformer blocks
    kv_inputs = [t for args in seen[::2] for t in args]
    assert all(set(t.unique().tolist()) <= {0.0, 1.0} for t in kv_inputs)
    attn = model.stages[3].blocks[0].attn
    assert attn.attn_neuron.v_threshold == 0.5 and attn.q_neuron.v_threshold == 1.0


def test_gradients_reach_the_encoding_layer():
    model = tiny(T=2).train()
    model(torch.rand(2, 3, 32, 32))[0].sum().backward()
    assert model.stages[0].downsample.conv.weight.grad.abs().sum() > 0


def test_head_runs_the_neuron_over_time_then_averages_logits():
    torch.manual_seed(0)
    head = SpikingLinearClsHead(num_classes=5, in_channels=8)
    feats = SpikingGlobalAvgPool()((torch.rand(4, 2, 8, 3, 3) * 3,))
    assert feats[0].shape == (4, 2, 8)
    spikes = head.pre_logits(feats)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(head(feats), head.fc(spikes).mean(0))
    sfa_head = SpikingLinearClsHead(5, 8, neuron_cfg=dict(type='SFANeuron', D=4, norm=1))
    levels = sfa_head.pre_logits((torch.tensor([[[-1.0, 0.4, 0.6, 2.5, 3.2, 9.0, 1.0, 0.0]]]),))
    assert levels.flatten().tolist() == [0, 0, 1, 2, 3, 4, 1, 0]  # 2.5: half to even
    with pytest.raises(ValueError, match=r'expects \[T, B, 8\] or \[B, 8\] features'):
        head((torch.rand(2, 7),))
    with pytest.raises(ValueError, match=r'expects \[T, B, C, H, W\] or \[B, C, H, W\]'):
        SpikingGlobalAvgPool()((torch.rand(2, 8),))


@pytest.mark.parametrize('variant, gmacs', [('15m', 6.47), ('31m', 14.02), ('55m', 24.82), ('123m', 55.61)])
def test_model_table_reproduces_the_reference_macs_at_224(variant, gmacs):
    spec = importlib.util.spec_from_file_location('model_table', REPO / 'tools/analysis_tools/model_table.py')
    model_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model_table)
    stats = model_table.measure(str(CONFIGS / f'meta-spikeformer-{variant}_8xb128-lamb-200e_in1k.py'))
    assert stats['macs'] / 1e9 == pytest.approx(gmacs, abs=0.005)  # measured on the reference classification/models.py


def test_digits_demo_config_learns_on_real_data():
    """A few dozen steps of the README demo (real digits, its pipeline, preprocessor and optimizer): loss falls."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    cfg = Config.fromfile(CONFIGS / 'meta-spikeformer-tiny_digits.py')
    torch.manual_seed(0)
    losses = []
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # the pipeline's transforms; restored afterwards
        model = MMPRETRAIN_MODELS.build(cfg.model)
        model.init_weights()
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        for data in Runner.build_dataloader(cfg.train_dataloader, seed=0):
            losses.append(model.train_step(data, optim_wrapper)['loss'].item())
            if len(losses) == 30:
                break
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8 - 0.05, losses  # from chance (ln 10 = 2.30) downwards
