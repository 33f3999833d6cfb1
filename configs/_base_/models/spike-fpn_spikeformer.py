# The fully spiking neck and head for the Semantic-FPN of fpn_spikeformer.py: SpikeSegFPN and SpikeFPNHead put a
# spiking neuron (SFA, integer levels 0..4 / 4) before every conv, classifier included (the V3 reference's QFPN /
# QFPNHead, Spike-Driven-Transformer-V3 SDT_V3/Segmentation/configs/EFSDTv2/fpn_sdtv3_512x512_19M_ade20k.py), so
# every synaptic layer of the segmentor sees spikes. They replace mmseg's FPN / FPNHead whole (those take
# norm and extra-level arguments the spiking ones reject), so a `spike-fpn_*` config inherits its `fpn_*` twin and
# this file and fills in the twin's widths:
#   model = dict(
#       neck=dict(_base_.spike_fpn_neck, in_channels=_base_.model.neck.in_channels,
#                 out_channels=_base_.model.neck.out_channels),
#       decode_head=dict(_base_.spike_fpn_head, in_channels=_base_.model.decode_head.in_channels,
#                        channels=_base_.model.decode_head.channels))
neuron = dict(type='spikeformer_mm.SFANeuron', D=4)
spike_fpn_neck = dict(_delete_=True, type='spikeformer_mm.SpikeSegFPN', neuron_cfg=neuron)
spike_fpn_head = dict(
    _delete_=True,
    type='spikeformer_mm.SpikeFPNHead',
    in_index=[0, 1, 2, 3],
    feature_strides=[2, 4, 8, 16],
    neuron_cfg=neuron,
    dropout_ratio=0.1,
    num_classes=150,
    align_corners=False,
    loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
