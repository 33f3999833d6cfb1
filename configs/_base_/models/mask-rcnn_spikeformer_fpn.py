# Mask R-CNN over a spiking backbone (Meta-SpikeFormer / E-SpikeFormer) with stock mmdet FPN and heads.
# A config on top sets `model.backbone` (with `out_indices=(1, 2, 3, 4)`) and `model.neck.in_channels`.
#
# Geometry. The backbones' candidate outputs 1..4 (stages 1-4) have strides 4, 8, 16 and 16: stages 3 and 4
# share stride 16. The FPN keeps one level per input and adds one level by a stride-2 max-pool, so its five
# outputs have strides (4, 8, 16, 16, 32). The reference detectors (Spike-Driven-Transformer-V2
# detection/configs/sdt_mask_rcnn/mask-rcnn_sdt-t_fpn_1x_coco.py, V3 SDT_V3/Detection/configs/
# sdeformer_mask_rcnn/mask-rcnn_sdeformer_fpn_1x_coco.py) keep mmdet's usual anchor strides (4, 8, 16, 32, 64)
# and RoIAlign strides (4, 8, 16, 32), which misplaces the anchors and RoI features of the two coarsest levels.
# Here the declared strides are the real ones; the anchor base sizes keep the usual progression 4, 8, 16, 32, 64
# (x scale 8 = anchors of 32..512 pixels), so each level still holds one anchor size, now centred on its own
# feature grid. RoIs go to levels by size as usual (finest_scale 56), and are pooled with the true 1/stride scale
# of the level they land on.
# The fully spiking neck and heads: mask-rcnn_spikeformer_spike-fpn.py.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

fpn_strides = [4, 8, 16, 16, 32]
model = dict(
    neck=dict(num_outs=5, add_extra_convs=False),
    rpn_head=dict(anchor_generator=dict(strides=fpn_strides, base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=fpn_strides[:4]),
        mask_roi_extractor=dict(featmap_strides=fpn_strides[:4])))

