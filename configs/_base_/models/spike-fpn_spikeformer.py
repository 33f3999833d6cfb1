# Fully spiking Semantic-FPN: the spiking backbone of fpn_spikeformer.py, then SpikeSegFPN and SpikeFPNHead, which
# put a spiking neuron (SFA, integer levels 0..4 / 4) before every conv, classifier included (the V3 reference's
# QFPN / QFPNHead), so every synaptic layer of the segmentor sees spikes.
_base_ = './fpn_spikeformer.py'

neuron = dict(type='spikeformer_mm.SFANeuron', D=4)
model = dict(
    neck=dict(_delete_=True, type='spikeformer_mm.SpikeSegFPN', in_channels=[32, 64, 128, 360], out_channels=128,
              neuron_cfg=neuron),
    decode_head=dict(
        _delete_=True,
        type='spikeformer_mm.SpikeFPNHead',
        in_channels=[128, 128, 128, 128],
        in_index=[0, 1, 2, 3],
        feature_strides=[2, 4, 8, 16],
        channels=128,
        neuron_cfg=neuron,
        dropout_ratio=0.1,
        num_classes=150,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
