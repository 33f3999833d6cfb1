# The ANN twin of e-spikeformer-small_fashion-mnist.py: the same network with every SFA neuron replaced by a ReLU
# (spikeformer_mm.ANNTwin), same parameters, data and recipe; the yardstick for accuracy and energy:
#   python tools/train.py configs/e_spikeformer/e-spikeformer-small-ann-twin_fashion-mnist.py
_base_ = './e-spikeformer-small_fashion-mnist.py'

model = dict(_delete_=True, type='spikeformer_mm.ANNTwin', model={{_base_.model}})
