"""Firing-rate maps of a spiking backbone over one image: a PNG with one heatmap per stage.

    python demo/firing_map_demo.py tests/data/imagenet_samples/n01440764_tench.JPEG \
        configs/e_spikeformer/e-spikeformer-19m_8xb256-lamb-200e_in1k.py --checkpoint CKPT --out-file firing.png

Works with any config of this project (classification, detection, segmentation): it runs the model's backbone.
Each panel is a stage's mean firing rate per position (spikes per time step over the neuron's maximum; blue 0 =
silent, red 1 = saturated) blended over the image. The layers that never fire, or always fire at their maximum,
are listed on the console, and ``--out-json`` saves every layer's rate.
"""
import argparse
import json
import os.path as osp

import mmcv
from mmengine.config import Config, DictAction

import spikeformer_mm  # noqa: F401  (registers the spiking modules)
from spikeformer_mm.benchmark.model_from_config import build_model
from spikeformer_mm.engine import safe_checkpoint_loading
from spikeformer_mm.visualization import draw_firing_maps, record_firing
from spikeformer_mm.visualization.image_input import load_image_batch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Per-stage firing-rate heatmaps of a spiking backbone')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('--checkpoint', help='checkpoint file (default: random weights)')
    parser.add_argument('--out-file', default='firing_map.png', help='where to save the PNG')
    parser.add_argument('--out-json', help='also save the per-layer and per-stage mean rates as JSON')
    parser.add_argument('--short-side', type=int, default=224,
                        help='resize the image to this short side (both sides then rounded to multiples of 32)')
    parser.add_argument('--alpha', type=float, default=0.5, help='weight of the heatmap over the image')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for kind, path in (('image', args.img), ('config', args.config), ('checkpoint', args.checkpoint)):
        if path is not None and not osp.isfile(path):
            raise FileNotFoundError(f'{kind} file not found: {path}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if 'data_preprocessor' in cfg:  # mmpretrain configs keep it next to the model
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    with safe_checkpoint_loading():
        model = build_model(cfg, args.checkpoint)
    image, inputs = load_image_batch(model, args.img, args.short_side)
    record = record_firing(model.backbone, inputs)
    panel = draw_firing_maps(image, {stage: rates[0] for stage, rates in record.stage_maps.items()}, args.alpha)
    mmcv.imwrite(panel, args.out_file)
    for stage, rates in record.stage_maps.items():
        print(f'{stage}: mean firing rate {rates.mean().item():.4f} on a {tuple(rates.shape[-2:])} grid')
    for kind, names in (('dead', record.dead_layers()), ('saturated', record.saturated_layers())):
        if names:
            more = f', ... ({len(names) - 10} more)' if len(names) > 10 else ''
            print(f'{kind} layers ({len(names)}): ' + ', '.join(names[:10]) + more)
    print(f'firing map: {args.out_file}')
    if args.out_json:
        stages = {stage: rates.mean().item() for stage, rates in record.stage_maps.items()}
        with open(args.out_json, 'w') as f:
            json.dump({'stages': stages, 'layers': record.layer_rates}, f, indent=1)
    return record


if __name__ == '__main__':
    main()
