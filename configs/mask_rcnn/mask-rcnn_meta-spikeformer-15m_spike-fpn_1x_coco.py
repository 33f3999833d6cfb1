# Fully spiking Mask R-CNN on Meta-SpikeFormer 15M (the V3 reference's detector): integer spikes (SFA, 0..4) in
# front of every conv and fc of the FPN, RPN, box and mask heads, so the whole detector is spike-driven.
# Backbone, widths, strides, data and schedule: those of the stock-heads twin it inherits.
_base_ = ['./mask-rcnn_meta-spikeformer-15m_fpn_1x_coco.py', '../_base_/models/mask-rcnn_spikeformer_spike-fpn.py']

model = _base_.spike_fpn
