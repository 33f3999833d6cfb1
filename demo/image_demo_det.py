"""Detect objects in images with a spiking detector through mmdet's DetInferencer
(the command line of mmdet's demo/image_demo.py).

    python demo/image_demo_det.py tests/data/coco_mini/val2017/000000039769.png \
        configs/mask_rcnn/mask-rcnn_e-spikeformer-19m_spike-fpn_1x_coco.py --weights CKPT --out-dir outputs

Writes ``OUT_DIR/vis/<image>`` (boxes and masks drawn on the image) and ``OUT_DIR/preds/<image>.json`` (labels,
scores, boxes).
"""
from argparse import ArgumentParser

from mmdet.apis import DetInferencer

import spikeformer_mm  # noqa: F401  (registers the spiking modules)
from spikeformer_mm.engine import safe_checkpoint_loading


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('inputs', help='image file or folder')
    parser.add_argument('model', help='config file')
    parser.add_argument('--weights', default=None, help='checkpoint file (default: random weights)')
    parser.add_argument('--out-dir', default='outputs', help='output folder')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--pred-score-thr', type=float, default=0.3, help='drop detections scored lower')
    parser.add_argument('--batch-size', type=int, default=1, help='inference batch size')
    parser.add_argument('--show', action='store_true', help='show the predictions in a window')
    parser.add_argument('--no-save-vis', action='store_true', help='do not save the drawn images')
    parser.add_argument('--no-save-pred', action='store_true', help='do not save the predictions as JSON')
    parser.add_argument('--print-result', action='store_true', help='print the predictions')
    parser.add_argument('--palette', default='none', choices=['coco', 'voc', 'citys', 'random', 'none'],
                        help='colours of the classes (none: those of the checkpoint or the dataset)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    with safe_checkpoint_loading():
        inferencer = DetInferencer(model=args.model, weights=args.weights, device=args.device, palette=args.palette)
    return inferencer(args.inputs, out_dir=args.out_dir, pred_score_thr=args.pred_score_thr,
                      batch_size=args.batch_size, show=args.show, no_save_vis=args.no_save_vis,
                      no_save_pred=args.no_save_pred, print_result=args.print_result)


if __name__ == '__main__':
    main()
