"""Energy report of a model from its config: firing rates, MACs, SOPs and energy per image, per layer.

    python tools/analysis_tools/energy.py CONFIG [CHECKPOINT] --num-images N [--input-shape H W]
        [--dataset] [--batch-size B] [--out REPORT.json] [--preset NAME] [--e-mac PJ] [--e-ac PJ]
        [--memory] [--memory-preset NAME] [--no-fold-affine] [--time-steps T] [--top K] [--unsafe-load]
        [--cfg-options k=v ...]

Works for mmpretrain classifiers, mmdet detectors and mmseg segmentors. Without a checkpoint the weights are the
random initialisation; without ``--dataset`` the inputs are random images of ``--input-shape`` (default
224 224) through the model's own data preprocessor. ``--out`` writes the JSON report plus a CSV and a PNG chart
beside it. The method, its constants and what is counted: docs/energy.md.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

import spikeformer_mm  # noqa: F401  (registries)
from spikeformer_mm.benchmark import build_model, random_batch
from spikeformer_mm.energy import (
    COMPUTE_PRESETS,
    MEMORY_PRESETS,
    EnergyCounter,
    build_report,
    format_table,
    save_csv,
    save_json,
    save_plot,
)
from spikeformer_mm.energy.presets import DEFAULT_COMPUTE, DEFAULT_MEMORY
from spikeformer_mm.engine.checkpoint_loading import safe_checkpoint_loading


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Estimate the energy of a spiking model (per image)')
    parser.add_argument('config', help='model config file (mmpretrain, mmdet or mmseg)')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file; random weights if omitted')
    parser.add_argument('--num-images', type=int, default=1, help='images to measure (default 1)')
    parser.add_argument('--input-shape', type=int, nargs=2, default=(224, 224), metavar=('H', 'W'),
                        help='size of the random images (default 224 224)')
    parser.add_argument('--dataset', action='store_true', help="use the config's test_dataloader, not random images")
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass (random inputs)')
    parser.add_argument('--out', help='write the JSON report here (and .csv / .png beside it)')
    parser.add_argument('--preset', default=DEFAULT_COMPUTE, choices=sorted(COMPUTE_PRESETS),
                        help=f'energy per operation (default {DEFAULT_COMPUTE}: E_MAC 4.6 pJ, E_AC 0.9 pJ)')
    parser.add_argument('--e-mac', type=float, help='override E_MAC (pJ)')
    parser.add_argument('--e-ac', type=float, help='override E_AC (pJ)')
    parser.add_argument('--memory', action='store_true', help='also estimate parameter/membrane memory traffic')
    parser.add_argument('--memory-preset', default=DEFAULT_MEMORY, choices=sorted(MEMORY_PRESETS))
    parser.add_argument('--no-fold-affine', action='store_true',
                        help='count every real-valued input as MACs (no folding of conv-BN-conv chains)')
    parser.add_argument('--time-steps', type=int, help='real time steps T (default: inferred)')
    parser.add_argument('--top', type=int, default=20, help='layers shown in the table (0: all)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load CHECKPOINT with full unpickling (weights_only=False): only for a trusted file '
                             'that the default loading refuses; any code the file names runs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args(argv)
    if args.num_images < 1 or args.batch_size < 1:
        parser.error('--num-images and --batch-size must be >= 1')
    return args


def batches(args, cfg: Config, scope: str):
    """Data batches until ``--num-images`` images have been given."""
    if args.dataset:
        loader = Runner.build_dataloader(cfg.test_dataloader, seed=args.seed)
        given = 0
        while given < args.num_images:
            for batch in loader:
                yield batch
                given += len(batch['inputs'])
                if given >= args.num_images:
                    return
    generator = torch.Generator().manual_seed(args.seed)
    for start in range(0, args.num_images, args.batch_size):
        yield random_batch(scope, min(args.batch_size, args.num_images - start), args.input_shape, generator)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    torch.manual_seed(args.seed)
    with safe_checkpoint_loading(unsafe=args.unsafe_load or None):
        model = build_model(cfg, args.checkpoint)
    scope = cfg.get('default_scope', 'mmengine')
    counter = EnergyCounter(model, time_steps=args.time_steps, fold_affine=not args.no_fold_affine,
                            memory=args.memory)
    progress = ProgressBar(args.num_images, file=sys.stderr)
    with torch.no_grad(), counter:
        for batch in batches(args, cfg, scope):
            model.test_step(batch)
            for _ in range(len(batch['inputs'])):
                progress.update()
    sys.stderr.write('\n')
    report = build_report(counter.state(), preset=args.preset, e_mac=args.e_mac, e_ac=args.e_ac,
                          memory_preset=args.memory_preset)
    report['config'] = args.config
    report['checkpoint'] = args.checkpoint
    print(format_table(report, top=args.top or None))
    if args.out:
        stem = osp.splitext(args.out)[0]
        save_json(report, args.out)
        save_csv(report, stem + '.csv')
        save_plot(report, stem + '.png')
        print(f'report: {args.out} (+ {stem}.csv, {stem}.png)')
    return report


if __name__ == '__main__':
    main()
