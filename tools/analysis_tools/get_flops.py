"""FLOPs, activations and parameters of a config's model with mmengine's analysis, neurons included.

    python tools/analysis_tools/get_flops.py configs/e_spikeformer/e-spikeformer-19m_8xb256-lamb-200e_in1k.py
    python tools/analysis_tools/get_flops.py configs/mask_rcnn/mask-rcnn_e-spikeformer-19m_fpn_1x_coco.py \
        --shape 800 1216

The counterpart of the toolboxes' ``tools/analysis_tools/get_flops.py`` for spiking models: mmengine's
``FlopAnalyzer`` with handles for the neurons' autograd functions (``spikeformer_mm.analysis``). A classifier or
segmentor is counted whole (``mode='tensor'``), a detector up to its neck (``extract_feat``: the heads' work
depends on the proposals of a trained model). mmengine counts one multiply-add as one FLOP, BatchNorm included,
every time step; the per-step MACs of the model table (``model_table.py``, the papers' convention) are printed
next to it: the convs', linear layers' and matrix products' FLOPs / T. See docs/energy.md, "mmengine complexity
counts".
"""
import argparse
import functools

import torch
from mmengine.config import Config, DictAction

import spikeformer_mm  # noqa: F401  (registries)
from spikeformer_mm.analysis import complexity_info
from spikeformer_mm.benchmark.model_from_config import build_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224], help='input size: H W (or S for SxS)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    parser.add_argument('--no-table', action='store_true', help='do not print the per-module table')
    args = parser.parse_args(argv)
    if len(args.shape) == 1:
        args.shape = args.shape * 2
    if len(args.shape) != 2 or min(args.shape) < 1:
        parser.error(f'--shape takes H W or S, got {args.shape}')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg)  # eval mode, random weights: counts depend on shapes only
    scope = cfg.get('default_scope', 'mmengine')
    # the toolboxes' own get_flops tools trace the same parts
    model.forward = model.extract_feat if scope == 'mmdet' else functools.partial(model.forward, mode='tensor')
    info = complexity_info(model, torch.rand(1, 3, *args.shape), show_table=not args.no_table, show_arch=False)
    if not args.no_table:
        print(info['out_table'])
    T = getattr(model.backbone, 'T', 1)
    info['per_step_macs'] = info['synaptic_flops'] / T
    print(f'Input shape: {tuple(args.shape)}\nFlops: {info["flops_str"]} (all {T} time step(s), BatchNorm '
          f'{info["batch_norm_flops"] / 1e9:.3f} G included)\nPer-step MACs of convs, linears and matrix '
          f'products: {info["per_step_macs"] / 1e9:.3f} G\nActivations: {info["activations_str"]}\nParams: '
          f'{info["params_str"]}')
    if getattr(model.backbone, 'spike_driven', False):
        print('spike_driven=True: every SFA-fed layer ran on D binary planes, which mmengine counts as D dense '
              'passes (D^2 for Q K^T); the per-step MACs above are therefore not the model table\'s')
    return info


if __name__ == '__main__':
    main()
