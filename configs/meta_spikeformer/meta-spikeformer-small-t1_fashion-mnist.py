# A small Meta-SpikeFormer (embed dims 16/32/64/128, blocks 1/1/2/2/1, 0.70M parameters, T = 1) trained from
# scratch on Fashion-MNIST (32 x 32 padded grey images), CPU, nothing downloads:
#   apt-get install dataset-fashion-mnist && python tools/dataset_converters/prepare_fashion_mnist.py
#   python tools/train.py configs/meta_spikeformer/meta-spikeformer-small-t1_fashion-mnist.py
# Results and cost: docs/benchmarks.md (Fashion-MNIST). Departures from the ImageNet recipe, both because the
# network is small and its attention stages see 2 x 2 tokens: LIF threshold 0.25 instead of 1 and one attention
# head instead of 8 (configs/meta_spikeformer/meta-spikeformer-tiny_digits.py explains why threshold 1 with 8
# heads does not train at this size).
_base_ = [
    '../_base_/datasets/fashion-mnist_bs128.py',
    '../_base_/schedules/fashion-mnist_adamw-2e.py',
]

neuron = dict(type='MultiStepLIF', v_threshold=0.25)
model = dict(
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='spikeformer_mm.MetaSpikeFormer', in_channels=1, T=1, keep_time=True, neuron_cfg=neuron,
                  arch=dict(embed_dims=[16, 32, 64, 128], depths=[1, 1, 2, 2, 1], num_heads=1)),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=10, in_channels=128, neuron_cfg=neuron,
              topk=(1,)))
