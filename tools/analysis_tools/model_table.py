"""The README's model table: parameters and MACs at 224x224 of classifier configs.

    python tools/analysis_tools/model_table.py [CONFIG ...] [--input-shape H W]

Without CONFIG, the Meta-SpikeFormer ImageNet configs (T=1). Parameters count every trainable tensor of the
classifier (1000-class head included). MACs are per image and time step: every Conv, Linear and attention matmul
(``SpikeMatMul``) call, ``output elements x fan-in`` (``spikeformer_mm.energy.counter.synaptic_macs``), BatchNorm
not counted, the convention of the Spike-Driven Transformer papers
(arXiv:2404.03663, arXiv:2411.16061). The model runs on PyTorch's ``meta`` device (shapes only), so
the table takes seconds whatever the model size.
"""
import argparse
import glob
import os.path as osp
import re
import sys

import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import spikeformer_mm  # noqa: F401  (registries)
from spikeformer_mm.energy.counter import SYNAPTIC, synaptic_macs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs/meta_spikeformer/meta-spikeformer-*m_8xb128-*.py')),
                         key=lambda path: int(re.search(r'-(\d+)m_', path).group(1)))


def measure(config: str, input_shape=(224, 224)) -> dict:
    """``{'params', 'macs', 'T'}`` of the classifier in ``config``; MACs per image and time step."""
    cfg = Config.fromfile(config)
    with torch.device('meta'):
        model = MODELS.build(cfg.model).eval()
    calls = []
    hooks = [m.register_forward_hook(lambda mod, args, out: calls.append(synaptic_macs(mod, args, out)))
             for m in model.modules() if isinstance(m, SYNAPTIC)]
    with torch.no_grad():
        model(torch.empty(1, 3, *input_shape, device='meta'), mode='tensor')
    for hook in hooks:
        hook.remove()
    T = model.backbone.T
    return dict(params=sum(p.numel() for p in model.parameters()), macs=sum(calls) / T, T=T)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT_CONFIGS, help='classifier configs')
    parser.add_argument('--input-shape', type=int, nargs=2, default=(224, 224), metavar=('H', 'W'))
    args = parser.parse_args(argv)
    print(f'| variant | params | MACs at {args.input_shape[0]}x{args.input_shape[1]} (per step) | config |')
    print('|---|---|---|---|')
    for config in args.configs:
        cfg = Config.fromfile(config)
        arch = cfg.model.backbone.get('arch')
        stats = measure(config, args.input_shape)
        print(f'| {arch} | {stats["params"] / 1e6:.2f} M ({stats["params"]:,}) | {stats["macs"] / 1e9:.2f} G '
              f'| `{osp.relpath(config, REPO)}` |')


if __name__ == '__main__':
    sys.exit(main())
