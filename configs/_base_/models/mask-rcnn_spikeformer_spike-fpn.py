# The fully spiking flavour of mask-rcnn_spikeformer_fpn.py, the V3 reference's detector (Spike-Driven-Transformer-V3
# SDT_V3/Detection/configs/sdeformer_mask_rcnn/mask-rcnn_sdeformer_fpn_1x_coco.py: SpikeFPN, SpikeRPNHead,
# SharedSpike2FCBBoxHead, SpikeFCNMaskHead): a neuron in front of every conv and fc of the neck, the RPN head and the
# box and mask heads, by default the reference's integer neuron (levels 0..4, not normalised).
# A `*_spike-fpn_*` config inherits its stock-heads twin and this file, then merges the swap into its model; widths,
# strides and losses stay the twin's:
#   _base_ = ['./mask-rcnn_<backbone>_fpn_1x_coco.py', '../_base_/models/mask-rcnn_spikeformer_spike-fpn.py']
#   model = _base_.spike_fpn
neuron = dict(type='SFANeuron', D=4, norm=1)
spike_fpn = dict(
    neck=dict(type='spikeformer_mm.SpikeFPN', neuron_cfg=neuron),
    rpn_head=dict(type='spikeformer_mm.SpikeRPNHead', neuron_cfg=neuron),
    roi_head=dict(
        bbox_head=dict(type='spikeformer_mm.SpikeConvFCBBoxHead', num_shared_fcs=2, neuron_cfg=neuron),
        mask_head=dict(type='spikeformer_mm.SpikeFCNMaskHead', neuron_cfg=neuron)))
