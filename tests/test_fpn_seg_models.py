"""Semantic-FPN segmentors: the spiking neck and head, the configs in configs/fpn, pretrained and T=4 loading."""
import copy
import functools
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint, save_checkpoint
from mmseg.registry import MODELS
from torch import nn

import spikeformer_mm  # noqa: F401
from spikeformer_mm.energy import EnergyCounter
from spikeformer_mm.models.backbones import ESpikeFormer

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'fpn'
TINY = dict(embed_dims=[16, 32, 64, 96])  # outputs 0, 1, 2, 4 have 8, 16, 32, 96 channels
E19M_SPIKE = CONFIGS / 'spike-fpn_e-spikeformer-19m_4xb4-160k_ade20k-512x512.py'
META15M_SPIKE = CONFIGS / 'spike-fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512.py'
META15M_SPIKE_T4 = CONFIGS / 'spike-fpn_meta-spikeformer-15m-t4_4xb4-160k_ade20k-512x512.py'
pytestmark = pytest.mark.usefixtures('one_thread')  # on a shared machine more threads wait on each other


@functools.lru_cache(maxsize=None)
def load_config(path: Path) -> Config:
    return Config.fromfile(str(path))


def tiny_model_cfg(path: Path) -> dict:
    """The config's model with a tiny backbone, 32-channel neck/head, 128x128 crops and no pretrained init."""
    model = copy.deepcopy(load_config(path).model)
    model.data_preprocessor.size = (128, 128)
    model.backbone.update(arch=TINY, init_cfg=None)
    model.neck.update(in_channels=[8, 16, 32, 96], out_channels=32)
    model.decode_head.update(in_channels=[32] * 4, channels=32)
    return model


def test_spike_seg_fpn_shapes_and_time_major():
    torch.manual_seed(0)
    neck = MODELS.build(dict(type='spikeformer_mm.SpikeSegFPN', in_channels=[8, 16, 32], out_channels=12))
    neck.init_weights()
    neck.eval()
    xs = [torch.randn(2, c, 32 // s, 48 // s) * 3 for c, s in zip([8, 16, 32], [2, 4, 8])]
    outs = neck(xs)
    assert [tuple(o.shape) for o in outs] == [(2, 12, 16, 24), (2, 12, 8, 12), (2, 12, 4, 6)]
    # a time-major input with T=1 is the same computation, and keeps its time axis
    outs_t = neck([x.unsqueeze(0) for x in xs])
    assert all(torch.equal(o_t[0], o) for o_t, o in zip(outs_t, outs))
    with pytest.raises(ValueError, match=r'in_channels=\[8, 16, 32\] but the inputs have \[8, 16, 16\]'):
        neck(xs[:2] + [xs[1][:, :, ::2, ::2]])
    with pytest.raises(ValueError, match='expects 3 input levels'):
        neck(xs[:2])


def test_spike_fpn_head_checks_declared_strides():
    head = MODELS.build(dict(type='spikeformer_mm.SpikeFPNHead', in_channels=[8, 8, 8], in_index=[0, 1, 2],
                             channels=8, feature_strides=[2, 4, 16], num_classes=5))
    good = [torch.randn(1, 8, 32 // s, 32 // s) for s in (2, 4, 16)]
    assert head(good).shape == (1, 5, 16, 16)
    bad = [torch.randn(1, 8, 32 // s, 32 // s) for s in (2, 4, 8)]  # stride 8 declared as 16
    with pytest.raises(ValueError, match=r'input 2 is 4x4, but at stride 16 .* should be about 2x2'):
        head(bad)
    with pytest.raises(ValueError, match='ascending powers of 2'):
        MODELS.build(dict(type='spikeformer_mm.SpikeFPNHead', in_channels=[8, 8], in_index=[0, 1], channels=8,
                          feature_strides=[2, 6], num_classes=5))
    with pytest.raises(ValueError, match=r"does not take \['norm_cfg'\]"):
        MODELS.build(dict(type='spikeformer_mm.SpikeFPNHead', in_channels=[8, 8], in_index=[0, 1], channels=8,
                          feature_strides=[2, 4], num_classes=5, norm_cfg=dict(type='SyncBN')))


@pytest.mark.parametrize('path', sorted(CONFIGS.glob('*.py')), ids=lambda p: p.stem)
def test_config_declares_the_backbone_strides_and_channels(path):
    """The neck takes the backbone's outputs 0, 1, 2, 4 (channels C0/2, C0, C1, C3) at the declared strides."""
    torch.manual_seed(0)
    cfg = load_config(path)
    assert cfg.model.pretrained is None and '://' not in cfg.pretty_text  # nothing downloads
    init = cfg.model.backbone.init_cfg
    if init is None:  # T=4 fine-tunes start from the T=1 segmentor that tools/train.py writes
        assert cfg.model.backbone.T == 4
        assert cfg.load_from == f"work_dirs/{path.stem.replace('-t4_', '_')}/iter_160000.pth"
    else:
        assert init.type == 'Pretrained' and init.checkpoint.startswith('checkpoints/')
    backbone_cls = MODELS.get(cfg.model.backbone.type)
    C0, C1, _, C3 = backbone_cls.arch_settings[cfg.model.backbone.arch]['embed_dims']
    assert tuple(cfg.model.backbone.out_indices) == (0, 1, 2, 4)
    assert list(cfg.model.neck.in_channels) == [C0 // 2, C0, C1, C3]
    # the same layout with a tiny backbone (the config's T and neuron types): real strides == declared ones
    model = MODELS.build(tiny_model_cfg(path)).eval()
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, 64, 96))
        logits = model.decode_head(model.neck(feats))
    assert [96 // f.shape[-1] for f in feats] == [64 // f.shape[-2] for f in feats] == \
        list(cfg.model.decode_head.feature_strides) == [2, 4, 8, 16]
    assert logits.shape == (1, 150, 32, 48)


@pytest.mark.parametrize('name, params', [('spike-fpn_e-spikeformer-19m', 18_626_504),
                                          ('fpn_meta-spikeformer-55m', 54_709_248)])
def test_backbone_has_the_reference_parameters_without_layer_scales(name, params):
    """The reference seg backbones (Spike-Driven-Transformer-V3 SDT_V3/Segmentation/mmseg/models/backbones/:
    sdtv3.py, Spiking_vit_MetaFormerv2; sdtv2.py, Spiking_vit_MetaFormer) have 18,633,272 (19M, 6,768 of them 1e-6
    layer scales) and 54,709,248 (55M) parameters; ours are the classification backbones, without layer scales."""
    cfg = copy.deepcopy(load_config(CONFIGS / f'{name}_4xb4-160k_ade20k-512x512.py').model.backbone)
    cfg.init_cfg = None
    assert sum(p.numel() for p in MODELS.build(cfg).parameters()) == params


def test_spiking_neck_and_head_see_only_spikes():
    """Every conv of the spiking neck and decode head (classifier included) gets SFA levels k/4, k = 0..4."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(E19M_SPIKE)).eval()
    seen = {}

    def record(name):
        def hook(module, args):
            seen[name] = args[0].detach()
        return hook

    convs = {f'{part}.{name}': m for part in ('neck', 'decode_head')
             for name, m in getattr(model, part).named_modules() if isinstance(m, nn.Conv2d)}
    assert len(convs) == 4 + 4 + 7 + 1  # lateral, output, scale-head convs (1+1+2+3), conv_seg
    for name, conv in convs.items():
        conv.register_forward_pre_hook(record(name))
    with torch.no_grad():
        model.decode_head(model.neck(model.backbone(torch.randn(2, 3, 64, 64))))
    assert seen.keys() == convs.keys()
    for name, x in seen.items():
        levels = x * 4
        assert torch.equal(levels, levels.round()) and levels.min() >= 0 and levels.max() <= 4, name
    assert any(x.max() > 0 for x in seen.values())


def test_energy_counter_counts_the_spiking_segmentor_as_spike_driven():
    """spikeformer_mm.energy: every synaptic layer but the encoding conv gets spikes or SFA levels."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(E19M_SPIKE)).eval()
    with EnergyCounter(model) as counter, torch.no_grad():
        model.decode_head(model.neck(model.backbone(torch.randn(1, 3, 64, 96) * 3)))
    kinds = {name: stats.inputs for name, stats in counter.layers.items()}
    assert kinds.pop('backbone.stages.0.downsample.conv') == {'real'}  # the image
    assert sum(name.startswith(('neck.', 'decode_head.')) for name in kinds) == 16
    assert all(kind <= {'integer', 'integer x integer'} for kind in kinds.values()), kinds


def test_pretrained_backbone_loads_switched_on(tmp_path):
    """ImageNet weights through init_cfg reproduce the source backbone exactly: no block starts switched off."""
    torch.manual_seed(0)
    source = ESpikeFormer(arch=TINY, out_indices=(0, 1, 2, 4)).eval()
    for m in source.modules():  # non-trivial BN statistics, as in a trained checkpoint
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    ckpt = tmp_path / 'e-spikeformer-tiny_backbone.pth'
    torch.save(source.state_dict(), ckpt)
    model_cfg = tiny_model_cfg(E19M_SPIKE)
    model_cfg.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(ckpt))
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for ours, theirs in zip(model.backbone(x), source(x)):
            assert torch.equal(ours, theirs)


def test_t4_fine_tune_loads_the_t1_segmentor(tmp_path):
    torch.manual_seed(0)
    t1 = MODELS.build(tiny_model_cfg(META15M_SPIKE))
    t1.init_weights()
    ckpt = tmp_path / 'iter_160000.pth'
    save_checkpoint(t1.state_dict(), str(ckpt))
    t4_cfg = tiny_model_cfg(META15M_SPIKE_T4)
    assert t4_cfg.backbone.T == 4
    t4 = MODELS.build(t4_cfg)
    load_checkpoint(t4, str(ckpt), strict=True)
    assert t4.backbone.T == 4
    for (name, a), b in zip(t1.state_dict().items(), t4.state_dict().values()):
        assert torch.equal(a, b), name
    with torch.no_grad():
        assert t4.eval().decode_head(t4.neck(t4.backbone(torch.randn(1, 3, 32, 32)))).shape == (1, 150, 16, 16)
