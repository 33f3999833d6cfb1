# A small Spikeformer (convolutional tokenizer 16/32/64/128, 2 spatio-temporal attention blocks of width 128,
# T = 4) trained from scratch on Fashion-MNIST (32 x 32 padded grey images), CPU, nothing downloads:
#   apt-get install dataset-fashion-mnist && python tools/dataset_converters/prepare_fashion_mnist.py
#   python tools/train.py configs/spikeformer/spikeformer-small-t4_fashion-mnist.py
# Results and cost: docs/benchmarks.md (Fashion-MNIST).
_base_ = [
    '../_base_/datasets/fashion-mnist_bs128.py',
    '../_base_/schedules/fashion-mnist_adamw-2e.py',
]

model = dict(
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='spikeformer_mm.Spikeformer', in_channels=1, T=4, keep_time=True,
                  arch=dict(embed_dims=128, depth=2, num_heads=8)),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=10, in_channels=128, topk=(1,)))
