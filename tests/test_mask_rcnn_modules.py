"""The spiking detection neck and heads: exact maths, spikes in front of every conv/fc, init through the wrapper."""
import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch import nn

from spikeformer_mm.models.spike_input import SPIKE_LAYER_TYPES, SpikeInput
from spikeformer_mm.ops import SFANeuron

TINY = Path(__file__).parent / 'configs' / 'mask-rcnn_tiny_spike-fpn_coco-mini.py'
pytestmark = pytest.mark.usefixtures('one_thread')


def integer_spikes(x: torch.Tensor) -> torch.Tensor:
    """The default detection neuron: SFA levels 0..4, not normalised, ties to even (the reference's ``.round()``)."""
    return torch.round(x.clamp(0, 4))


def test_spike_fpn_is_fpn_on_integer_spikes_in_train_and_eval():
    torch.manual_seed(0)
    fpn = MODELS.build(dict(type='spikeformer_mm.SpikeFPN', in_channels=[4, 6], out_channels=5, num_outs=3))
    fpn.init_weights()
    inputs = [3 * torch.randn(2, 4, 12, 20), 3 * torch.randn(2, 6, 6, 10)]
    lat = [F.conv2d(integer_spikes(x), m.conv.weight, m.conv.bias) for x, m in zip(inputs, fpn.lateral_convs)]
    lat[0] = lat[0] + F.interpolate(lat[1], size=(12, 20), mode='nearest')
    expected = [F.conv2d(integer_spikes(x), m.conv.weight, m.conv.bias, padding=1)
                for x, m in zip(lat, fpn.fpn_convs)]
    expected.append(F.max_pool2d(expected[-1], 1, stride=2))  # the extra level: stride 2 over the last
    for mode in (fpn.train, fpn.eval):  # the reference's SpikeFPN clamps to [0, 1] in eval only
        mode()
        outs = fpn(inputs)
        assert [tuple(o.shape) for o in outs] == [(2, 5, 12, 20), (2, 5, 6, 10), (2, 5, 3, 5)]
        for out, ref in zip(outs, expected):
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def build_tiny(config, coco_root, monkeypatch):
    """The tiny test detector of ``config`` and one real training batch of the 3 coco_mini images."""
    monkeypatch.setenv('COCO_ROOT', str(coco_root))
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(len(dataset))]), True)
    return model, batch


def record_layer_inputs(model):
    """Hooks every conv/deconv/fc of the neck and heads; returns {name: [inputs seen]}."""
    seen, handles = {}, []
    for part in ('neck', 'rpn_head', 'roi_head'):
        for name, module in getattr(model, part).named_modules():
            if isinstance(module, SPIKE_LAYER_TYPES):
                seen[f'{part}.{name}'] = []
                handles.append(module.register_forward_pre_hook(
                    lambda m, args, key=f'{part}.{name}': seen[key].append(args[0].detach())))
    return seen, handles


def test_every_conv_and_fc_of_the_spiking_detector_sees_integer_spikes(data_dir, monkeypatch):
    model, batch = build_tiny(TINY, data_dir / 'coco_mini', monkeypatch)
    seen, _ = record_layer_inputs(model)
    # neck: 4 lateral + 4 output convs; RPN: conv, cls, reg; box: 2 shared fcs, cls, reg; mask: 2 convs,
    # deconv, logits
    assert len(seen) == 19
    loss, _ = model.parse_losses(model.loss(batch['inputs'], batch['data_samples']))
    loss.backward()
    model.eval()
    with torch.no_grad():
        predictions = model.predict(batch['inputs'], batch['data_samples'])
    assert len(predictions) == 3
    for name, inputs in seen.items():
        assert inputs, f'{name} never ran'
        for x in inputs:
            assert torch.equal(x, x.round()) and x.min() >= 0 and x.max() <= 4, name
    assert max(float(x.max()) for inputs in seen.values() for x in inputs) == 4


def test_stock_heads_flavour_trains_on_real_values(data_dir, monkeypatch):
    config = TINY.with_name('mask-rcnn_tiny_fpn_coco-mini.py')
    model, batch = build_tiny(config, data_dir / 'coco_mini', monkeypatch)
    assert type(model.neck).__name__ == 'FPN' and type(model.roi_head.mask_head).__name__ == 'FCNMaskHead'
    seen, _ = record_layer_inputs(model)
    loss, _ = model.parse_losses(model.loss(batch['inputs'], batch['data_samples']))
    assert torch.isfinite(loss)
    loss.backward()
    assert model.backbone.stages[0].downsample.conv.weight.grad.abs().sum() > 0
    lateral = seen['neck.lateral_convs.0.conv'][0]
    assert not torch.equal(lateral, lateral.round())  # the stock FPN sees the backbone's real-valued maps


def test_mask_head_init_reaches_the_wrapped_deconv_and_logits():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='spikeformer_mm.SpikeFCNMaskHead', num_convs=1, in_channels=8,
                             conv_out_channels=8, num_classes=3))
    assert isinstance(head.upsample, SpikeInput) and head.upsample.weight is head.upsample.layer.weight
    assert head.upsample.bias.abs().sum() > 0  # PyTorch's default init
    head.init_weights()  # mmdet's FCNMaskHead.init_weights: kaiming weights, zero bias, found through the wrapper
    assert head.upsample.bias.abs().sum() == 0 and head.conv_logits.bias.abs().sum() == 0
    x = torch.randn(5, 8, 14, 14)
    assert head(x).shape == (5, 3, 28, 28)
    torch.testing.assert_close(copy.deepcopy(head)(x), head(x))  # the wrapper's attribute hand-off copies well


def test_neuron_cfg_reaches_every_layer():
    head = MODELS.build(dict(type='spikeformer_mm.SpikeConvFCBBoxHead', num_shared_fcs=2, in_channels=8,
                             fc_out_channels=16, roi_feat_size=7, num_classes=3,
                             neuron_cfg=dict(type='SFANeuron', D=8, norm=8)))
    wrapped = [m for m in head.modules() if isinstance(m, SpikeInput)]
    assert len(wrapped) == 4  # 2 shared fcs, fc_cls, fc_reg
    assert all(isinstance(m.neuron, SFANeuron) and m.neuron.D == 8 and m.neuron.norm == 8 for m in wrapped)
    assert not [m for m in head.modules() if isinstance(m, nn.Linear) and m not in [w.layer for w in wrapped]]


def test_time_major_neuron_is_refused_with_a_reason():
    with pytest.raises(ValueError, match='element-wise.*MultiStepLIF is multi-step and needs a leading time axis'):
        MODELS.build(dict(type='spikeformer_mm.SpikeRPNHead', in_channels=8, feat_channels=8,
                          anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[1.0], strides=[4]),
                          neuron_cfg=dict(type='MultiStepLIF')))


def test_detector_backbone_loads_the_converter_s_backbone_output(reference_dir, data_dir, tmp_path, monkeypatch):
    """Reference E-SpikeFormer weights -> converter (--backbone-only) -> the detector's Pretrained init_cfg."""
    import spikeformer_mm.converters.v3  # noqa: F401  (registers family 'v3')
    from spikeformer_mm.converters.biclab import convert_checkpoint
    reference = torch.load(reference_dir / 'v3_base_reference_outputs.pt', weights_only=True)
    assert reference['config']['embed_dims'] == [16, 32, 64, 96]  # the test detector's backbone widths
    src, dst = tmp_path / 'released.pth', tmp_path / 'e-spikeformer_backbone.pth'
    torch.save({'model': reference['state_dict']}, src)
    converted = convert_checkpoint(src, dst, 'v3', backbone_only=True)['state_dict']
    monkeypatch.setenv('COCO_ROOT', str(data_dir / 'coco_mini'))
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(dst))
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.backbone.state_dict()
    assert loaded.keys() == converted.keys()
    assert all(torch.equal(loaded[k], converted[k]) for k in loaded)
