"""Convert a released BICLab checkpoint (Spike-Driven Transformer V2 / V3) to this project's names.

    python tools/model_converters/biclab_to_mm.py SRC DST --family v2 [--backbone-only] [--config CONFIG]
                                                  [--unsafe-load]

Writes an mmpretrain classifier checkpoint (``backbone.``/``neck.``/``head.`` keys), or with ``--backbone-only``
just the backbone weights for an mmdet/mmseg ``init_cfg=dict(type='Pretrained', checkpoint=DST)``. The result is
checked strictly against the model of ``--config`` (or, for families that can infer it, e.g. ``v2``, against a
model inferred from the weights); missing/unexpected keys and shape mismatches are errors. SRC loads with
``weights_only=True`` (the released files' ``args`` namespace is allowed); ``--unsafe-load`` fully unpickles a
trusted file that this refuses.
"""
import argparse
import importlib.util
import sys

import spikeformer_mm.converters.v2  # noqa: F401  (registers family 'v2')
from spikeformer_mm.converters import FAMILIES
from spikeformer_mm.converters.biclab import TARGETS, convert_checkpoint

if importlib.util.find_spec('spikeformer_mm.converters.v3') is not None:
    import spikeformer_mm.converters.v3  # noqa: F401  (registers families 'v3', 'v3-large')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='BICLab checkpoint (a dict with a "model" state_dict)')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument('--family', required=True, choices=sorted(FAMILIES), help='model family')
    parser.add_argument('--backbone-only', action='store_true',
                        help='write only the backbone weights (no "backbone." prefix) for mmdet/mmseg')
    parser.add_argument('--config', help='config whose model the result must load into strictly')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load SRC with full unpickling (weights_only=False): only for a trusted file that the '
                             'default loading refuses; any code the file names runs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ckpt = convert_checkpoint(args.src, args.dst, args.family, args.backbone_only, args.config,
                              unsafe=args.unsafe_load or None)
    checked = args.config or ('inferred model' if args.family in TARGETS else None)
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst}'
          + (f' (checked strictly against {checked})' if checked else ' (NOT checked: pass --config)'))


if __name__ == '__main__':
    sys.exit(main())
