# Meta-SpikeFormer 55M fine-tuned at T=4 from a T=1 checkpoint with hard distillation from an ANN teacher
# (Spike-Driven-Transformer-V2 classification/train_finetune_from_t1_to_t4.sh: --kd --distillation_type hard,
# alpha 0.5 and tau 1 as main_finetune.py's defaults; 8 GPUs x 24 images, blr 2e-5, 50 epochs, see the base).
# The reference's teacher is CAFormer-B36 (in21k-ft-1k); any stronger ImageNet-1k classifier with the same class
# order and ImageNet mean/std stands in. The teacher's config and local checkpoint are arguments:
#   python tools/train.py THIS_CONFIG --cfg-options load_from=work_dirs/<t1 run>/epoch_200.pth \
#       model.teacher_checkpoint=PATH/convnext-base_in1k.pth [model.teacher_cfg=OTHER_CONFIG]
# As the reference's --kd model, a second Linear (head_kd, here fc_kd) reads the head's spikes and learns from the
# teacher while fc learns the labels; evaluation averages the two. The teacher is frozen and not saved into the
# checkpoints. The T=1 checkpoint has no fc_kd: it starts from its initialisation, as in the reference.
_base_ = './meta-spikeformer-55m-t4_8xb24-lamb-50e_in1k.py'

model = dict(
    type='spikeformer_mm.DistillImageClassifier',
    teacher_cfg='mmpretrain::convnext/convnext-base_32xb128_in1k.py',
    teacher_checkpoint=None,  # required: --cfg-options model.teacher_checkpoint=PATH
    distillation_type='hard',
    alpha=0.5,
    tau=1.0,
    head=dict(with_kd=True))
