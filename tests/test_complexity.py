"""mmengine's complexity analysis on spiking models: neurons counted without "Unsupported operator" warnings,
and the totals related exactly to the project's per-step MAC table (docs/energy.md, "mmengine complexity
counts"): BatchNorm included, all T steps summed, spike-driven D planes counted as dense passes."""
import logging
from collections import Counter

import pytest
import torch
import yaml
from conftest import load_tool
from mmengine.analysis import complexity_analysis as mmengine_complexity
from mmengine.analysis import get_model_complexity_info
from mmengine.logging import MMLogger
from torch.nn.modules.batchnorm import _BatchNorm

from spikeformer_mm.analysis import flop_analyzer, register_mmengine_handles
from spikeformer_mm.energy.counter import SYNAPTIC, synaptic_macs
from spikeformer_mm.models.backbones import ESpikeFormer, MetaSpikeFormer

pytestmark = pytest.mark.usefixtures('one_thread')
WIDTHS = dict(embed_dims=[16, 32, 64, 96], depths=(1, 1, 1, 1, 1))


def hooked_counts(model, x) -> tuple:
    """Synaptic MACs per module over all calls (``synaptic_macs``, the model table's count) and the BatchNorm
    FLOPs (eval, affine: 2 per element, mmengine's rule), counted by forward hooks."""
    macs, bn = Counter(), [0]
    hooks = [m.register_forward_hook(lambda mod, a, o, name=name: macs.update({name: synaptic_macs(mod, a, o)}))
             for name, m in model.named_modules() if isinstance(m, SYNAPTIC)]
    hooks += [m.register_forward_hook(lambda mod, a, o: bn.__setitem__(0, bn[0] + 2 * a[0].numel()))
              for m in model.modules() if isinstance(m, _BatchNorm)]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return macs, bn[0]


@pytest.fixture(scope='module')
def x():
    return torch.rand(1, 3, 64, 64)


def test_flops_are_all_time_steps_of_the_per_step_macs_plus_batch_norm(x):
    T = 3
    model = MetaSpikeFormer(arch=WIDTHS, T=T, out_indices=(1, 2, 3, 4)).eval()
    macs, bn = hooked_counts(model, x)
    per_step = sum(macs.values()) / T  # tools/analysis_tools/model_table.py
    flops = flop_analyzer(model, x)
    assert flops.by_operator()['batch_norm'] == bn
    assert flops.total() == T * per_step + bn
    assert flops.by_operator()['PythonOp._MultiStepLIFFunction'] == 0  # counted, at no cost


def test_spike_driven_planes_count_as_dense_passes(x):
    model = ESpikeFormer(arch=WIDTHS, out_indices=(1, 2, 3, 4)).eval()
    D = 4
    macs, bn = hooked_counts(model, x)
    stem, qk = macs['stages.0.downsample.conv'], sum(v for k, v in macs.items() if k.endswith('qk_matmul'))
    assert info_flops(model, x) == sum(macs.values()) + bn
    model.spike_driven = True
    # the stem sees the image (one pass); every other conv and attn @ V run D binary planes; Q K^T D x D pairs
    expected = stem + D * (sum(macs.values()) - stem - qk) + D * D * qk
    assert info_flops(model, x) == expected + bn


def info_flops(model, x) -> int:
    return flop_analyzer(model, x).total()


class Messages(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_stock_mmengine_call_is_silent_after_registering_the_handles(x, monkeypatch):
    model = ESpikeFormer(arch=WIDTHS, out_indices=(1, 2, 3, 4)).eval()
    # register into copies of mmengine's tables, so that other tests see stock mmengine
    for table in ('_DEFAULT_SUPPORTED_FLOP_OPS', '_DEFAULT_SUPPORTED_ACT_OPS'):
        monkeypatch.setattr(mmengine_complexity, table, dict(getattr(mmengine_complexity, table)))
    logger = MMLogger.get_current_instance()
    handler = Messages()
    logger.addHandler(handler)
    try:
        stock = get_model_complexity_info(model, inputs=(x,), show_table=False, show_arch=False)
        before = list(handler.messages)
        handler.messages.clear()
        register_mmengine_handles()
        registered = get_model_complexity_info(model, inputs=(x,), show_table=False, show_arch=False)
    finally:
        logger.removeHandler(handler)
    assert any('Unsupported operator prim::PythonOp._SFAFunction' in m for m in before)
    assert not [m for m in handler.messages if 'Unsupported operator' in m], handler.messages
    # the neurons cost nothing and no product broadcasts here: the totals are those of the stock call
    assert registered['flops'] == stock['flops'] and registered['activations'] == stock['activations']


def test_get_flops_tool_gives_the_metafile_s_per_step_macs(capsys):
    config = 'configs/meta_spikeformer/meta-spikeformer-tiny_digits.py'
    models = yaml.safe_load(open('configs/meta_spikeformer/metafile.yml'))['Models']
    (entry,) = [m for m in models if m['Config'] == config]
    info = load_tool('analysis_tools/get_flops').main([config, '--shape', '32', '--no-table'])
    assert info['per_step_macs'] == entry['Metadata']['FLOPs']  # MACs per image and step at 32x32
    assert info['params'] == entry['Metadata']['Parameters']
    out = capsys.readouterr().out
    assert 'Flops:' in out and 'Per-step MACs of convs, linears and matrix products' in out
