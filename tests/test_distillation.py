"""DistillImageClassifier: the reference's DistillationLoss, a frozen teacher outside the student's checkpoints."""
import copy
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample

from spikeformer_mm.engine.checkpoint_loading import load_checkpoint_file
from spikeformer_mm.models.classifiers.distill_classifier import DistillImageClassifier, distillation_loss
from spikeformer_mm.registry import MODELS

NUM_CLASSES = 10
NEURON = dict(type='MultiStepLIF', v_threshold=0.25)
# a tiny ResNet-18 (8 stem and base channels) as the ANN teacher
TEACHER = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=64))
SINGLE_HEAD = dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=NUM_CLASSES, in_channels=96,
                   neuron_cfg=NEURON)
TWO_HEADS = dict(type='spikeformer_mm.SpikingDistillClsHead', num_classes=NUM_CLASSES, in_channels=96)
V2_KD_HEADS = dict(SINGLE_HEAD, with_kd=True)  # the V2 reference's head and head_kd on the same spikes


def student_cfg(head=SINGLE_HEAD, **kwargs):
    """The tiny Meta-SpikeFormer of configs/meta_spikeformer/meta-spikeformer-tiny_digits.py."""
    return dict(
        type='spikeformer_mm.DistillImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=NUM_CLASSES, mean=[127.5] * 3,
                               std=[127.5] * 3),
        backbone=dict(type='spikeformer_mm.MetaSpikeFormer', arch=dict(embed_dims=[16, 32, 64, 96], num_heads=1),
                      T=1, neuron_cfg=NEURON, keep_time=True),
        neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
        head=head, **kwargs)


@pytest.fixture(scope='module')
def teacher_checkpoint(tmp_path_factory, one_thread):
    """A randomly initialised tiny teacher with non-trivial BatchNorm statistics, saved as mmengine does."""
    torch.manual_seed(0)
    teacher = MMPRETRAIN_MODELS.build(TEACHER)
    teacher.init_weights()
    teacher.train()
    with torch.no_grad():
        teacher(torch.randn(4, 3, 32, 32), mode='tensor')  # running statistics away from their initial values
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save(dict(meta=dict(), state_dict=teacher.state_dict()), path)
    return str(path)


def build(teacher_checkpoint, head=SINGLE_HEAD, **kwargs) -> DistillImageClassifier:
    torch.manual_seed(1)
    model = MODELS.build(student_cfg(head, teacher_cfg=TEACHER, teacher_checkpoint=teacher_checkpoint, **kwargs))
    model.init_weights()
    return model


def batch(size=4, seed=2):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (size, 3, 32, 32), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, NUM_CLASSES, (size, ), generator=generator)
    return dict(inputs=list(images), data_samples=[DataSample().set_gt_label(int(label)) for label in labels])


def test_hard_loss_is_cross_entropy_against_the_teacher_argmax():
    kd = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    teacher = torch.tensor([[0.0, 3.0, 1.0], [5.0, 0.0, 0.0]])  # argmax 1 and 0
    by_hand = (-(0.0 - math.log(math.exp(2) + 2)) - (0.0 - math.log(2 + math.e))) / 2
    assert distillation_loss(kd, teacher, 'hard').item() == pytest.approx(by_hand, rel=1e-6)


def test_soft_loss_is_the_tempered_kl_times_tau_squared_over_the_number_of_logits():
    kd = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    teacher = torch.tensor([[0.0, 3.0, 1.0], [5.0, 0.0, 0.0]])
    tau = 2.0

    def softmax(row):
        exps = [math.exp(v / tau) for v in row]
        return [e / sum(exps) for e in exps]

    kl = sum(p_t * math.log(p_t / p_s) for s_row, t_row in zip(kd.tolist(), teacher.tolist())
             for p_s, p_t in zip(softmax(s_row), softmax(t_row)))
    by_hand = kl * tau * tau / 6
    assert distillation_loss(kd, teacher, 'soft', tau=tau).item() == pytest.approx(by_hand, rel=1e-6)


def test_teacher_is_the_loaded_checkpoint_in_eval_mode(teacher_checkpoint):
    model = build(teacher_checkpoint)
    reference = MMPRETRAIN_MODELS.build(TEACHER)
    reference.load_state_dict(torch.load(teacher_checkpoint, weights_only=True)['state_dict'])
    reference.eval()
    model.train()
    assert not model.teacher.training
    inputs = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(model.teacher_logits(inputs), reference(inputs, mode='tensor'), rtol=0, atol=0)


@pytest.mark.parametrize('distillation_type', ['hard', 'soft'])
def test_single_head_loss_is_the_reference_mix(teacher_checkpoint, distillation_type):
    model = build(teacher_checkpoint, distillation_type=distillation_type, alpha=0.3, tau=2.0)
    # eval mode: in training the RepConv padding follows the BatchNorm running statistics, so two forwards differ
    model.eval()
    data = model.data_preprocessor(batch(), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    logits = model(data['inputs'], mode='tensor')
    teacher = model.teacher_logits(data['inputs'])
    labels = torch.cat([sample.gt_label for sample in data['data_samples']])
    if distillation_type == 'hard':
        distill = torch.nn.functional.cross_entropy(logits, teacher.argmax(1))
    else:
        distill = (torch.softmax(teacher / 2, 1) * (torch.log_softmax(teacher / 2, 1) - torch.log_softmax(
            logits / 2, 1))).sum() * 4 / logits.numel()
    expected = 0.7 * torch.nn.functional.cross_entropy(logits, labels) + 0.3 * distill
    torch.testing.assert_close(losses['loss_cls'] + losses['loss_distill'], expected)


@pytest.mark.parametrize('head', [TWO_HEADS, V2_KD_HEADS], ids=['large', 'v2'])
def test_two_heads_class_head_learns_labels_and_kd_head_the_teacher(teacher_checkpoint, head):
    for alpha, silent in ((0.0, 'fc_kd'), (1.0, 'fc')):
        model = build(teacher_checkpoint, head=head, alpha=alpha)
        data = model.data_preprocessor(batch(), training=True)
        losses = model.loss(data['inputs'], data['data_samples'])
        sum(losses.values()).backward()
        trained = 'fc' if silent == 'fc_kd' else 'fc_kd'
        assert getattr(model.head, silent).weight.grad is None or not getattr(model.head, silent).weight.grad.any()
        assert getattr(model.head, trained).weight.grad.abs().sum() > 0
    model.eval()
    cls_logits, kd_logits = model.student_logits(data['inputs'])
    torch.testing.assert_close(model(data['inputs'], mode='tensor'), (cls_logits + kd_logits) / 2)


def test_training_step_leaves_the_teacher_unchanged(teacher_checkpoint):
    model = build(teacher_checkpoint, distillation_type='soft')
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    student_before = copy.deepcopy(model.state_dict())
    teacher_params = {id(p) for p in model.teacher.parameters()}
    assert not teacher_params & {id(p) for p in model.parameters()}
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    model.train()
    log_vars = model.train_step(batch(), optim_wrapper)
    assert set(log_vars) >= {'loss', 'loss_cls', 'loss_distill'}
    for name, value in model.teacher.state_dict().items():
        torch.testing.assert_close(value, teacher_before[name], rtol=0, atol=0, msg=name)
    assert all(p.grad is None for p in model.teacher.parameters())
    assert not model.teacher.training
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, student_before[k])]
    assert any(k.startswith('backbone.') for k in changed)


def test_a_timm_classifier_teaches_too(tmp_path):
    """mmpretrain's ``TimmClassifier`` (randomly initialised, saved locally: nothing is downloaded)."""
    pytest.importorskip('timm')
    teacher_cfg = dict(type='TimmClassifier', model_name='resnet18', pretrained=False, num_classes=NUM_CLASSES)
    teacher = MMPRETRAIN_MODELS.build(teacher_cfg).eval()
    torch.save(dict(state_dict=teacher.state_dict()), tmp_path / 'timm_teacher.pth')
    model = MODELS.build(student_cfg(teacher_cfg=teacher_cfg, teacher_checkpoint=str(tmp_path / 'timm_teacher.pth')))
    data = model.data_preprocessor(batch(), training=True)
    torch.testing.assert_close(model.teacher_logits(data['inputs']), teacher(data['inputs'], mode='tensor'))
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['loss_distill']) and losses['loss_distill'] > 0


def test_state_dict_holds_the_student_alone(teacher_checkpoint, tmp_path):
    model = build(teacher_checkpoint)
    student = MMPRETRAIN_MODELS.build(dict(student_cfg(), type='ImageClassifier'))
    assert set(model.state_dict()) == set(student.state_dict())
    assert copy.deepcopy(model).teacher is model.teacher  # EMA copies share the frozen teacher
    restored = build(teacher_checkpoint)
    restored.load_state_dict(model.state_dict(), strict=True)
    data = model.data_preprocessor(batch(), training=False)
    model.eval()
    restored.eval()
    torch.testing.assert_close(restored(data['inputs'], mode='tensor'), model(data['inputs'], mode='tensor'))


def test_bad_inputs_name_the_fix(teacher_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match='teacher_checkpoint'):
        build(str(tmp_path / 'missing.pth'))
    with pytest.raises(ValueError, match='teacher_checkpoint=PATH'):
        build(None)
    with pytest.raises(ValueError, match=r"use one of \('hard', 'soft'\)"):
        build(teacher_checkpoint, distillation_type='feature')
    wide = MMPRETRAIN_MODELS.build(dict(TEACHER, head=dict(TEACHER['head'], num_classes=1000)))
    wide_path = tmp_path / 'wide.pth'
    torch.save(dict(state_dict=wide.state_dict()), wide_path)
    with pytest.raises(ValueError, match='teacher predicts 1000 classes but the student 10'):
        MODELS.build(student_cfg(teacher_cfg=dict(TEACHER, head=dict(TEACHER['head'], num_classes=1000)),
                                 teacher_checkpoint=str(wide_path)))
    with pytest.raises(ValueError, match='does not fit the teacher config'):
        MODELS.build(student_cfg(teacher_cfg=dict(TEACHER, backbone=dict(TEACHER['backbone'], depth=34)),
                                 teacher_checkpoint=teacher_checkpoint))


@pytest.mark.parametrize('config', ['meta_spikeformer/meta-spikeformer-55m-t4-kd_8xb24-lamb-50e_in1k.py',
                                    'e_spikeformer/e-spikeformer-large-83m-kd_8xb196-lamb-100e_in1k.py'])
def test_kd_configs_need_a_local_teacher_checkpoint(config, tmp_path):
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / config))
    assert cfg.model.type == 'spikeformer_mm.DistillImageClassifier'
    assert cfg.model.distillation_type == 'hard' and cfg.model.alpha == 0.5
    teacher = get_config(cfg.model.teacher_cfg).model  # the stock mmpretrain ConvNeXt config resolves offline
    assert teacher.head.num_classes == cfg.model.head.num_classes == 1000
    with pytest.raises(ValueError, match='model.teacher_checkpoint=PATH'):
        MODELS.build(cfg.model)
    with pytest.raises(FileNotFoundError, match='model.teacher_checkpoint'):
        MODELS.build(dict(cfg.model, teacher_checkpoint=str(tmp_path / 'convnext.pth')))


def test_t4_kd_config_builds_with_a_local_teacher(tmp_path, one_thread):
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/meta_spikeformer/meta-spikeformer-55m-t4-kd_8xb24-lamb-50e_in1k.py'))
    teacher_cfg = dict(TEACHER, head=dict(TEACHER['head'], num_classes=1000))
    path = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=MMPRETRAIN_MODELS.build(teacher_cfg).state_dict()), path)
    model = MODELS.build(dict(cfg.model, teacher_cfg=teacher_cfg, teacher_checkpoint=str(path)))
    assert model.backbone.T == 4 and model.distillation_type == 'hard' and model.head.fc_kd is not None
    assert not any(key.startswith('teacher') or '_teacher' in key for key in model.state_dict())


def run_train(args):
    """tools/train.py in its own process, as a user runs it."""
    env = dict(os.environ, OMP_NUM_THREADS='1', SPIKEFORMER_COMPILE='0', PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, 'tools/train.py', *map(str, args)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_tools_train_distils_and_resumes(teacher_checkpoint, tmp_path):
    teacher_config = tmp_path / 'tiny_resnet.py'
    teacher_config.write_text(f'model = {TEACHER!r}\n')
    # the tiny digits student with 64 training digits (2 iterations per epoch), 40 to evaluate
    options = ['model.type=spikeformer_mm.DistillImageClassifier', f'model.teacher_cfg={teacher_config}',
               f'model.teacher_checkpoint={teacher_checkpoint}', 'model.distillation_type=soft', 'model.tau=2.0',
               'train_dataloader.dataset.indices=64', 'val_dataloader.dataset.indices=40',
               'test_dataloader.dataset.indices=40', 'default_hooks.checkpoint.interval=1',
               'default_hooks.logger.interval=1']
    config = REPO_ROOT / 'configs/meta_spikeformer/meta-spikeformer-tiny_digits.py'
    first = run_train([config, '--work-dir', tmp_path / 'run', '--cfg-options', *options, 'train_cfg.max_epochs=1'])
    assert first.returncode == 0, first.stderr[-3000:]
    checkpoint = load_checkpoint_file(tmp_path / 'run/epoch_1.pth', map_location='cpu')
    student = MMPRETRAIN_MODELS.build(dict(student_cfg(), type='ImageClassifier'))
    assert set(checkpoint['state_dict']) == set(student.state_dict())  # no teacher keys

    resumed = run_train([config, '--work-dir', tmp_path / 'resumed', '--resume', tmp_path / 'run/epoch_1.pth',
                         '--cfg-options', *options, 'train_cfg.max_epochs=2'])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'missing keys' not in resumed.stdout + resumed.stderr
    final = load_checkpoint_file(tmp_path / 'resumed/epoch_2.pth', map_location='cpu')
    assert final['meta']['epoch'] == 2 and final['meta']['iter'] == 4
    # AdamW's step count went on from the resumed optimizer state (2 + 2)
    assert {int(state['step']) for state in final['optimizer']['state'].values()} == {4}
    (log, ) = (tmp_path / 'resumed').glob('*/vis_data/scalars.json')
    logged = [json.loads(line) for line in log.read_text().splitlines() if '"loss_distill"' in line]
    assert [entry['iter'] for entry in logged] == [3, 4]
    assert all(entry['loss'] == pytest.approx(entry['loss_cls'] + entry['loss_distill'], abs=1e-4)
               for entry in logged)
