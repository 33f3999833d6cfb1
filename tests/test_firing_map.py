"""Firing-rate maps: the recorded rates equal the neurons' spikes counted independently, per stage and per layer,
and the drawn PNG panels are the rates' colours blended over the image."""
import cv2
import numpy as np
import pytest
import torch
from torch import nn

from spikeformer_mm.models.backbones import ESpikeFormer
from spikeformer_mm.ops import MultiStepLIF, SFANeuron
from spikeformer_mm.visualization import draw_firing_maps, record_firing
from spikeformer_mm.visualization.firing_map import panel_title

pytestmark = pytest.mark.usefixtures('one_thread')


class TwoGridStage(nn.Module):
    """A binary LIF over T=2 steps on the input, and another on the 2x2-average-pooled input: one stage, two
    grids (like a stage whose downsampling neuron fires on the previous stage's grid)."""

    def __init__(self):
        super().__init__()
        self.fine = MultiStepLIF()
        self.coarse = MultiStepLIF()
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        self.fine(x.unsqueeze(0).repeat(2, 1, 1, 1, 1))
        return self.coarse(self.pool(x).unsqueeze(0).repeat(2, 1, 1, 1, 1))


class ToyBackbone(nn.Module):
    """Stage 0: an integer neuron (D=4, raw levels) on the input. Stage 1: :class:`TwoGridStage`."""

    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleList([nn.Sequential(SFANeuron(D=4, norm=1)), TwoGridStage()])

    def forward(self, x):
        self.stages[0](x)
        return self.stages[1](x)


def lif_rate_constant_input(x):
    """Spikes per step of a LIF (tau 2, threshold 1, hard reset to 0) fed the constant x for 2 steps: the membrane
    is x/2 at step 1 and, if it did not fire, 3x/4 at step 2."""
    return (x >= 2).float() + ((x >= 4 / 3) & (x < 2)).float() * 0.5


def test_rates_equal_the_spikes_counted_independently():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 12) * 5 - 0.5
    record = record_firing(ToyBackbone(), x)

    levels = torch.round(x.clamp(0, 4))  # integer spikes 0..4 of the SFA neuron
    assert torch.allclose(record.stage_maps['stages.0'], levels.mean(1) / 4)

    first = lif_rate_constant_input(x).mean(1)  # [B, 8, 12], on the input grid
    pooled_input = x.reshape(2, 3, 4, 2, 6, 2).mean((3, 5))
    second = lif_rate_constant_input(pooled_input).mean(1)  # [B, 4, 6]
    first_on_coarse_grid = first.reshape(2, 4, 2, 6, 2).mean((2, 4))
    assert record.stage_maps['stages.1'].shape == (2, 4, 6)
    assert torch.allclose(record.stage_maps['stages.1'], (first_on_coarse_grid + second) / 2)

    assert record.layer_rates == pytest.approx({
        'stages.0.0': (levels / 4).mean().item(),
        'stages.1.fine': lif_rate_constant_input(x).mean().item(),
        'stages.1.coarse': lif_rate_constant_input(pooled_input).mean().item(),
    })


def test_dead_and_saturated_layers_are_named():
    backbone = ToyBackbone()
    names = ['stages.0.0', 'stages.1.fine', 'stages.1.coarse']
    assert record_firing(backbone, torch.full((1, 2, 4, 4), -1.0)).dead_layers() == names
    record = record_firing(backbone, torch.full((1, 2, 4, 4), 9.0))
    assert record.saturated_layers() == names and not record.dead_layers()


def test_real_backbone_gives_one_map_per_stage_on_the_stage_grid():
    backbone = ESpikeFormer(arch=dict(embed_dims=[16, 32, 64, 96]), out_indices=(1, 2, 3, 4)).eval()
    record = record_firing(backbone, torch.randn(1, 3, 64, 96))
    grids = {stage: tuple(m.shape) for stage, m in record.stage_maps.items()}
    assert grids == {'stages.0': (1, 32, 48), 'stages.1': (1, 16, 24), 'stages.2': (1, 8, 12),
                     'stages.3': (1, 4, 6), 'stages.4': (1, 4, 6)}
    neurons = [name for name, m in backbone.named_modules() if isinstance(m, SFANeuron)]
    assert sorted(record.layer_rates) == sorted(neurons)
    assert all(0 <= m.min() and m.max() <= 1 for m in record.stage_maps.values())


def test_a_module_without_stages_is_refused():
    with pytest.raises(TypeError, match='model.backbone'):
        record_firing(nn.Sequential(SFANeuron()), torch.zeros(1, 1, 2, 2))


def test_panels_blend_the_rate_colours_over_the_image():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    silent, full = torch.zeros(2, 3), torch.ones(4, 6)
    checker = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    out = draw_firing_maps(image, {'a': silent, 'b': full, 'c': checker}, alpha=0.5, label_height=18)
    assert out.shape == (18 + 32, 4 * 48, 3) and out.dtype == np.uint8
    panels = [out[18:, i * 48:(i + 1) * 48].astype(int) for i in range(4)]
    assert np.array_equal(panels[0], image)
    # OpenCV's jet colour map: 0 -> dark blue (BGR 128, 0, 0), 1 -> dark red (0, 0, 128)
    blue, red = np.array([128, 0, 0]), np.array([0, 0, 128])
    assert np.abs(panels[1] - (image * 0.5 + blue * 0.5)).max() <= 1
    assert np.abs(panels[2] - (image * 0.5 + red * 0.5)).max() <= 1
    # each cell of a 2x2 map covers a 16x24 block of the image
    assert np.abs(panels[3][:16, 24:] - (image[:16, 24:] * 0.5 + red * 0.5)).max() <= 1
    assert np.abs(panels[3][16:, 24:] - (image[16:, 24:] * 0.5 + blue * 0.5)).max() <= 1
    assert cv2.imencode('.png', out)[0]


def test_panel_titles_flag_dead_and_saturated_stages():
    assert panel_title('stages.2', np.zeros((2, 2))) == 'stages.2 0.000 dead'
    assert panel_title('stages.2', np.ones((2, 2))) == 'stages.2 1.000 saturated'
    assert panel_title('stages.2', np.array([[0.0, 0.5]])) == 'stages.2 0.250'
