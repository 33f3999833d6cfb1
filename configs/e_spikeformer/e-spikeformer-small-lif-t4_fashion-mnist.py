# The V3 paper's comparison: the Fashion-MNIST E-SpikeFormer of e-spikeformer-small_fashion-mnist.py with its SFA
# neurons (integer training, T = 1 x D = 4) swapped for binary multi-step LIF neurons at T = 4 (sigmoid surrogate,
# hard reset, threshold 1 as in the V2 reference); same network, data and recipe:
#   python tools/train.py configs/e_spikeformer/e-spikeformer-small-lif-t4_fashion-mnist.py
_base_ = './e-spikeformer-small_fashion-mnist.py'

model = dict(
    backbone=dict(T=4, neuron_cfg=dict(_delete_=True, type='MultiStepLIF')),
    head=dict(neuron_cfg=dict(_delete_=True, type='MultiStepLIF')))
