# The Fashion-MNIST Meta-SpikeFormer of meta-spikeformer-small-t1_fashion-mnist.py at T = 4 time steps (the image
# repeated 4 times), trained from scratch with the same recipe:
#   python tools/train.py configs/meta_spikeformer/meta-spikeformer-small-t4_fashion-mnist.py
_base_ = './meta-spikeformer-small-t1_fashion-mnist.py'

model = dict(backbone=dict(T=4))
