"""Segment an image with a spiking segmentor through mmseg's MMSegInferencer
(the command line of mmseg's demo/image_demo_with_inferencer.py).

    python demo/image_demo_seg.py tests/data/coco_mini/val2017/000000039769.png \
        configs/fpn/spike-fpn_e-spikeformer-19m_4xb4-160k_ade20k-512x512.py --checkpoint CKPT --out-dir outputs

Writes ``OUT_DIR/vis/<image>`` (the classes' colours blended over the image) and ``OUT_DIR/pred/<image>.png``
(the class index of each pixel).
"""
from argparse import ArgumentParser

from mmseg.apis import MMSegInferencer

import spikeformer_mm  # noqa: F401  (registers the spiking modules)
from spikeformer_mm.engine import safe_checkpoint_loading


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('img', help='image file or folder')
    parser.add_argument('model', help='config file')
    parser.add_argument('--checkpoint', default=None, help='checkpoint file (default: random weights)')
    parser.add_argument('--out-dir', default='', help='output folder (default: save nothing)')
    parser.add_argument('--show', action='store_true', help='show the prediction in a window')
    parser.add_argument('--dataset-name', default='ade20k',
                        help='classes and palette when the checkpoint has none (an mmseg dataset name)')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--opacity', type=float, default=0.5, help='opacity of the drawn segmentation, in (0, 1]')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    with safe_checkpoint_loading():
        inferencer = MMSegInferencer(args.model, args.checkpoint, dataset_name=args.dataset_name, device=args.device)
    return inferencer(args.img, show=args.show, out_dir=args.out_dir, opacity=args.opacity)


if __name__ == '__main__':
    main()
