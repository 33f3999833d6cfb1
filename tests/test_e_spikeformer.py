"""E-SpikeFormer (V3) backbones: parameter counts, shapes, the OpenMMLab interface, SFA levels, training."""
import inspect
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import DATASETS
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample
from torch import nn

from spikeformer_mm.converters.biclab import build_target
from spikeformer_mm.models.backbones import ESpikeFormer, ESpikeFormerLarge, MetaSpikeFormer
from spikeformer_mm.ops import SFANeuron, SpikingNeuron
from spikeformer_mm.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'e_spikeformer'
TINY = dict(embed_dims=(16, 32, 64, 96))
TINY_LARGE = dict(embed_dims=(16, 32, 64), depths=(1, 1, 1, 2), rep_conv=True)


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('config, params', [
    ('e-spikeformer-2.7m_8xb256-lamb-200e_in1k.py', 2_702_048),
    ('e-spikeformer-5.1m_8xb256-lamb-200e_in1k.py', 5_105_608),
    ('e-spikeformer-10m_8xb256-lamb-200e_in1k.py', 10_023_112),
    ('e-spikeformer-19m_8xb256-lamb-200e_in1k.py', 18_987_504),
    ('e-spikeformer-large-83m_8xb196-lamb-100e_in1k.py', 83_015_952),
    ('e-spikeformer-large-171m_8xb128-lamb-150e_in1k.py', 171_740_714),
])
def test_classifier_parameter_counts(config, params):
    with torch.device('meta'):
        model = build_target(CONFIGS / config)
    assert count(model) == params


@pytest.mark.parametrize('arch, params', [('83M', 82_502_952), ('171M', 170_971_714)])
def test_large_parameter_counts_without_the_distillation_head(arch, params):
    with torch.device('meta'):
        backbone = ESpikeFormerLarge(arch)
        head = MODELS.build(dict(type='spikeformer_mm.SpikingDistillClsHead', num_classes=1000,
                                 in_channels=backbone.embed_dims[-1], with_kd=False))
    assert count(backbone) + count(head) == params


def test_base_outputs_at_every_stage_on_a_non_square_input():
    torch.manual_seed(0)
    model = ESpikeFormer(TINY, out_indices=(0, 1, 2, 3, -1)).eval()
    outs = model(torch.randn(2, 3, 32, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 32), (2, 16, 8, 16), (2, 32, 4, 8), (2, 64, 2, 4),
                                              (2, 96, 2, 4)]
    assert model.out_channels == (8, 16, 32, 64, 96)


def test_keep_time_returns_time_major_outputs_and_T_is_averaged_otherwise():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    model = ESpikeFormer(TINY, T=2, keep_time=True).eval()
    (out,) = model(x)
    assert out.shape == (2, 2, 96, 2, 2)
    model.keep_time = False
    torch.testing.assert_close(model(x)[0], out.mean(0))


def test_large_outputs():
    torch.manual_seed(0)
    model = ESpikeFormerLarge(TINY_LARGE, out_indices=(0, 1, 2, -1)).eval()
    outs = model(torch.randn(1, 3, 32, 48))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 16, 24), (1, 16, 8, 12), (1, 32, 4, 6), (1, 64, 2, 3)]
    assert model.out_channels == (8, 16, 32, 64)


@pytest.mark.parametrize('backbone, kwargs, error, message', [
    (ESpikeFormer, dict(arch='7M'), KeyError, "unknown ESpikeFormer arch '7M'; valid names: 2.7M, 5.1M, 10M, 19M"),
    (ESpikeFormerLarge, dict(arch='19M'), KeyError, 'valid names: 83M, 171M'),
    (ESpikeFormer, dict(arch=dict(embed_dims=(16, 32, 64, 96), heads=4)), KeyError, r"arch keys \['heads'\]"),
    (ESpikeFormer, dict(arch=dict(embed_dims=(16, 32, 64))), ValueError, 'embed_dims must be 4 widths'),
    (ESpikeFormerLarge, dict(arch=dict(embed_dims=(16, 32, 60))), ValueError, 'divisible by num_heads'),
    (ESpikeFormer, dict(arch=TINY, out_indices=5), ValueError, 'out_indices'),
    (ESpikeFormerLarge, dict(arch=TINY_LARGE, out_indices=4), ValueError, 'out_indices'),
])
def test_bad_arguments_are_named(backbone, kwargs, error, message):
    with pytest.raises(error, match=message):
        backbone(**kwargs)


def test_bad_input_is_named():
    model = ESpikeFormer(TINY)
    with pytest.raises(ValueError, match='divisible by 16'):
        model(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r'expects images \[B, C, H, W\]'):
        model(torch.zeros(3, 32, 32))


def test_frozen_stages_and_norm_eval():
    model = ESpikeFormer(TINY, frozen_stages=1, norm_eval=True).train()
    for i, stage in enumerate(model.stages):
        assert all(p.requires_grad == (i > 1) for p in stage.parameters())
    assert not any(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.stages[2].training and not model.stages[1].training


@pytest.mark.parametrize('backbone, arch, blocks', [(ESpikeFormer, TINY, 12), (ESpikeFormerLarge, TINY_LARGE, 5)])
def test_drop_path_is_linear_over_the_blocks(backbone, arch, blocks):
    model = backbone(arch, drop_path_rate=0.2)
    rates = [block.drop_path.drop_path.drop_prob for stage in model.stages for block in stage.blocks]
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.2, blocks))


@pytest.mark.parametrize('D', [4, 8])
def test_sfa_levels_follow_D(D):
    torch.manual_seed(0)
    model = ESpikeFormer(TINY, neuron_cfg=dict(type='SFANeuron', D=D)).eval()
    outputs = []
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):  # wide pre-spike values, so every level occurs
            module.weight.data.uniform_(1, D)
        if isinstance(module, SFANeuron):
            assert module.D == D
            module.register_forward_hook(lambda m, args, out: outputs.append(out))
    model(torch.randn(2, 3, 32, 32))
    levels = torch.cat([o.flatten() for o in outputs]) * D
    assert torch.equal(levels, levels.round()) and levels.min() == 0 and levels.max() == D
    assert (levels % 2 == 1).any()  # odd levels occur, so these are not coarser levels in disguise


def test_same_interface_as_meta_spikeformer():
    meta = set(inspect.signature(MetaSpikeFormer).parameters)
    assert meta <= set(inspect.signature(ESpikeFormer).parameters)
    assert meta <= set(inspect.signature(ESpikeFormerLarge).parameters)
    cfg = dict(type='spikeformer_mm.MetaSpikeFormer', arch='15M', T=1, out_indices=(1, 2, 3, 4), keep_time=False,
               frozen_stages=0, norm_eval=True, drop_path_rate=0.1, init_cfg=None)
    swapped = MODELS.build(dict(cfg, type='spikeformer_mm.ESpikeFormer', arch='2.7M'))
    assert swapped.out_channels == (24, 48, 96, 128)


def test_classifier_loss_falls():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='mmpretrain.ImageClassifier',
        backbone=dict(type='spikeformer_mm.ESpikeFormer', arch=dict(embed_dims=(8, 16, 32, 48)), keep_time=True),
        neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
        head=dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=2, in_channels=48,
                  neuron_cfg=dict(type='SFANeuron', D=4, norm=1), loss=dict(type='CrossEntropyLoss'))))
    labels = torch.arange(8) % 2
    images = torch.randn(8, 3, 32, 32) + 2.0 * labels.view(-1, 1, 1, 1).float()  # class 1 is brighter
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='mmpretrain.Lamb', lr=5e-3, weight_decay=0.0)))
    losses = []
    for _ in range(30):
        loss = model(images, samples, mode='loss')['loss']
        wrapper.update_params(loss)
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.75 * losses[0], losses


def test_large_layer_wise_lr_decay():
    model = MODELS.build(dict(
        type='mmpretrain.ImageClassifier',
        backbone=dict(type='spikeformer_mm.ESpikeFormerLarge', arch=TINY_LARGE),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(type='spikeformer_mm.SpikingDistillClsHead', num_classes=4, in_channels=64)))
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='mmpretrain.Lamb', lr=1.0, weight_decay=0.05),
        constructor='mmpretrain.LearningRateDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.5)))
    lr = {group['param_name']: group['lr'] for group in wrapper.optimizer.param_groups}
    assert lr['head.fc_kd.weight'] == 1.0
    assert lr['backbone.stages.3.blocks.1.layer_scale1'] == 0.5
    assert lr['backbone.stages.3.blocks.0.attn.q_bn.weight'] == 0.25
    assert lr['backbone.stages.3.downsample.conv.weight'] == lr['backbone.stages.0.downsample.conv.weight'] == 0.125


def test_distill_head_averages_the_real_and_the_spiking_head():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='spikeformer_mm.SpikingDistillClsHead', num_classes=3, in_channels=5))
    feats = torch.rand(1, 2, 5) * 5
    expected = (head.fc(feats[0]) + head.fc_kd(SFANeuron(4, norm=1)(feats[0]))) / 2
    torch.testing.assert_close(head((feats,)), expected)
    with pytest.raises(ValueError, match=r'expects \[T, B, 5\]'):
        head((torch.zeros(2, 4),))


@pytest.mark.parametrize('factor', [1, 32])
def test_small_inputs_need_the_attention_scale_factor(factor, one_thread):
    """At 32 x 32 the transformer stages see 2 x 2 tokens: with the reference's scale the attention neuron stays
    silent, the BatchNorm after it normalises a constant, and the gradient reaching the stem explodes (the
    digits config's training stalled at 57 %); the digits config's factor 32 makes it fire like the others."""
    cfg = Config.fromfile(str(CONFIGS / 'e-spikeformer-tiny_digits.py'))
    cfg.model.backbone.arch.attn_scale_factor = factor
    torch.manual_seed(0)
    model = PRETRAIN_MODELS.build(cfg.model)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    data = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(64)]), True)
    rates = []
    for name, module in model.named_modules():
        if isinstance(module, SpikingNeuron) and name.endswith('attn.proj_conv.neuron'):
            module.register_forward_hook(lambda m, i, out: rates.append(float((out > 0).float().mean())))
    model(**data, mode='loss')['loss'].backward()
    stem_grad = float(model.backbone.stages[0].downsample.conv.weight.grad.norm())
    if factor == 1:
        assert max(rates) < 0.01 and stem_grad > 1e3, (rates, stem_grad)
    else:
        assert min(rates) > 0.1 and stem_grad < 1e3, (rates, stem_grad)
