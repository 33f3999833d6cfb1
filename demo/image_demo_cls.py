"""Classify one image with a spiking classifier through mmpretrain's ImageClassificationInferencer
(the command line of mmpretrain's demo/image_demo.py).

    python demo/image_demo_cls.py tests/data/imagenet_samples/n01440764_tench.JPEG \
        configs/e_spikeformer/e-spikeformer-19m_8xb256-lamb-200e_in1k.py --checkpoint CKPT
    python demo/image_demo_cls.py tests/data/imagenet_samples/n01440764_tench.JPEG \
        e-spikeformer-19m_8xb256-lamb-200e_in1k --checkpoint CKPT

``model`` is a config file or a model name of this project's model index (``mmpretrain.list_models('*spikeformer*')``).
"""
import json
from argparse import ArgumentParser

from mmpretrain import ImageClassificationInferencer

from spikeformer_mm.engine import safe_checkpoint_loading
from spikeformer_mm.model_index import register_model_index


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('img', help='image file')
    parser.add_argument('model', help='config file, or a model name of the model index')
    parser.add_argument('--checkpoint', type=str, default=None, help='checkpoint file (default: random weights)')
    parser.add_argument('--show', action='store_true', help='show the prediction in a window')
    parser.add_argument('--show-dir', type=str, default=None, help='save the visualised prediction to this folder')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    register_model_index()  # lets mmpretrain find this project's classifiers by name
    with safe_checkpoint_loading():
        inferencer = ImageClassificationInferencer(args.model, pretrained=args.checkpoint, device=args.device)
    result = inferencer(args.img, show=args.show, show_dir=args.show_dir)[0]
    result.pop('pred_scores')  # 1000 numbers: too long to print
    print(json.dumps(result, indent=2))
    return result


if __name__ == '__main__':
    main()
