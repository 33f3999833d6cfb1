# A small E-SpikeFormer (embed dims 16/32/64/128, blocks 1/1/2/2/1, 8 heads, 0.85M parameters, SFA D = 4,
# T = 1) trained from scratch on Fashion-MNIST (32 x 32 padded grey images), CPU, nothing downloads:
#   apt-get install dataset-fashion-mnist && python tools/dataset_converters/prepare_fashion_mnist.py
#   python tools/train.py configs/e_spikeformer/e-spikeformer-small_fashion-mnist.py
# then test the same weights as integers and as D binary spikes per activation (equal results):
#   python tools/test.py configs/e_spikeformer/e-spikeformer-small_fashion-mnist.py CKPT
#   python tools/test.py configs/e_spikeformer/e-spikeformer-small_fashion-mnist.py CKPT \
#       --cfg-options model.backbone.spike_driven=True
# Results and cost: docs/benchmarks.md (Fashion-MNIST). The neurons are the reference's (V3 Model_Base); the
# attention's scale is 32 times the reference's, because its transformer stages see 2 x 2 tokens instead of
# 14 x 14 (arch attn_scale_factor in ESpikeFormer; without it the attention neuron never fires).
_base_ = [
    '../_base_/datasets/fashion-mnist_bs128.py',
    '../_base_/schedules/fashion-mnist_adamw-2e.py',
]

model = dict(
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='spikeformer_mm.ESpikeFormer', in_channels=1, T=1, keep_time=True,
                  neuron_cfg=dict(type='SFANeuron', D=4),
                  arch=dict(embed_dims=[16, 32, 64, 128], depths=[1, 1, 2, 2, 1], num_heads=8,
                            attn_scale_factor=32)),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=10, in_channels=128,
              neuron_cfg=dict(type='SFANeuron', D=4, norm=1), topk=(1,)))
