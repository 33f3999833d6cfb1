# A tiny E-SpikeFormer (embed dims 16/32/64/96, SFA D=4, T=1) trained from scratch on scikit-learn's handwritten
# digits with the Meta-SpikeFormer digits recipe (CPU, no download):
#   python tools/train.py configs/e_spikeformer/e-spikeformer-tiny_digits.py
# then evaluate the same weights as integers and as D binary spikes per activation:
#   python tools/test.py configs/e_spikeformer/e-spikeformer-tiny_digits.py CKPT
#   python tools/test.py configs/e_spikeformer/e-spikeformer-tiny_digits.py CKPT \
#       --cfg-options model.backbone.spike_driven=True
# Top-1 on the held-out 449 test digits: configs/e_spikeformer/README.md.
_base_ = '../meta_spikeformer/meta-spikeformer-tiny_digits.py'

model = dict(
    backbone=dict(type='spikeformer_mm.ESpikeFormer', neuron_cfg=dict(_delete_=True, type='SFANeuron', D=4),
                  arch=dict(num_heads=8, attn_scale_factor=32)),  # the base's threshold and 1 head are V2-specific
    head=dict(neuron_cfg=dict(_delete_=True, type='SFANeuron', D=4, norm=1)))
