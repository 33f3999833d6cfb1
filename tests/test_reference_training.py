"""One float64 training step, and eval at tie-prone widths, equal to the BICLab reference implementations.

The fixtures (tests/data/reference, see its README) hold a reference model's weights, one input batch and labels,
and what the reference computed in train mode: logits, cross-entropy loss, every parameter's gradient and every
BatchNorm's running statistics after the step. Here the weights go through this project's converter
(``spikeformer_mm.converters``), the model runs the same step in float64, and everything is compared.

Meta-SpikeFormer at T = 1 and T = 2 (one with firing attention and hundreds of membranes exactly at threshold),
E-SpikeFormer Model_Base with ties at half-integers (rounded to even) and E-SpikeFormer Model_Large (rounded up,
strict gradient window; its two heads averaged as the reference evaluates them).
"""
import pytest
import torch
import torch.nn.functional as F

import spikeformer_mm.converters.v2  # noqa: F401  (registers 'v2')
import spikeformer_mm.converters.v3  # noqa: F401  (registers 'v3' and 'v3-large')
from spikeformer_mm.converters import FAMILIES
from spikeformer_mm.converters.biclab import TARGETS, build_target

pytestmark = pytest.mark.usefixtures('one_thread')

TRAIN_FIXTURES = [('v2_train_T1_dev.pt', 'v2'), ('v2_train_T2_dev.pt', 'v2'), ('v2_train_T2_w8_s1_qkv1.5.pt', 'v2'),
                  ('v3_train_dev.pt', 'v3'), ('v3base_train_w8h4_s3.pt', 'v3'),
                  ('v3large_train_w16_d2_s4_qkv1.5.pt', 'v3-large')]
# fixtures that also hold eval-mode logits with running statistics calibrated on their input
CALIBRATED_FIXTURES = TRAIN_FIXTURES[2:3] + TRAIN_FIXTURES[4:]


def build_converted(fixture: dict, family: str) -> torch.nn.Module:
    """The fixture's reference weights, converted and loaded strictly into this project's classifier."""
    converted = FAMILIES[family](fixture['state_dict'])
    cfg = TARGETS[family](converted)
    if 'T' in fixture['config']:
        cfg['backbone']['T'] = fixture['config']['T']
    if 'num_heads' in fixture['config']:  # the converter assumes the released models' 8 heads
        cfg['backbone']['arch']['num_heads'] = fixture['config']['num_heads']
    model = build_target(cfg)
    model.load_state_dict(converted, strict=True)
    return model


def converted_like(fixture: dict, family: str, entries: dict) -> dict:
    """Reference-named ``entries`` (gradients, running statistics) under this project's names.

    The converter maps whole state dicts: the entries go into a copy of the fixture's state dict whose other
    values are NaN, so that a name the entries do not cover shows up as NaN.
    """
    blank = {key: torch.full_like(value, float('nan')) if value.is_floating_point() else value
             for key, value in fixture['state_dict'].items()}
    return FAMILIES[family]({**blank, **entries})


@pytest.fixture(scope='module', params=TRAIN_FIXTURES, ids=[name for name, _ in TRAIN_FIXTURES])
def training_step(request, reference_dir):
    """``(fixture, family, model after one float64 training step, its logits, its loss)``."""
    name, family = request.param
    fixture = torch.load(reference_dir / name, weights_only=True)
    model = build_converted(fixture, family).double().train()
    logits = model(fixture['input'].double())
    loss = F.cross_entropy(logits, fixture['labels'])
    loss.backward()
    return fixture, family, model, logits.detach(), loss.detach()


def test_train_mode_logits_and_loss(training_step):
    fixture, _, _, logits, loss = training_step
    torch.testing.assert_close(logits.float(), fixture['logits'], rtol=1e-6, atol=1e-6)
    assert loss.item() == pytest.approx(fixture['loss'], rel=1e-9)


def test_every_gradient(training_step):
    """Relative error <= 1e-6 of each gradient's norm; biases that feed a train-mode BatchNorm have a zero
    gradient in exact arithmetic (the BN removes any constant), so theirs is rounding noise on both sides and is
    held to 1e-4 of the whole gradient's norm instead."""
    fixture, family, model, _, _ = training_step
    expected = converted_like(fixture, family, fixture['grads'])
    params = dict(model.named_parameters())
    total = torch.sqrt(sum(expected[name].double().pow(2).sum() for name in params))
    assert torch.isfinite(total), 'a parameter has no reference gradient'
    failures = []
    for name, param in params.items():
        ref = expected[name].double()
        err = (param.grad - ref).norm()
        bound = 1e-6 * ref.norm()
        if name.endswith('.bias') and ref.norm() <= 1e-8 * total:
            bound = 1e-4 * total
        if not err <= bound:
            failures.append(f'{name}: |error| {err:.3g} > {bound:.3g} (|grad| {ref.norm():.3g})')
    assert not failures, '\n'.join(failures)


def test_running_statistics_after_the_step(training_step):
    fixture, family, model, _, _ = training_step
    expected = converted_like(fixture, family, fixture['running_after'])
    buffers = {name: b for name, b in model.named_buffers() if name.endswith(('running_mean', 'running_var'))}
    assert len(buffers) == len(fixture['running_after'])
    for name, buffer in buffers.items():
        torch.testing.assert_close(buffer.float(), expected[name], rtol=1e-6, atol=1e-7, msg=name)


def test_eval_logits_at_tie_prone_widths(reference_dir):
    """E-SpikeFormer at the 2.7M widths: stage 4's head dimension is 16, the attention scale exactly 0.5, and
    integer attention products land on halves, which the reference rounds to even."""
    fixture = torch.load(reference_dir / 'v3_ref_2.7m_widths_dev.pt', weights_only=True)
    model = build_converted(fixture, 'v3')
    with torch.no_grad():
        logits = model(fixture['input'])
    torch.testing.assert_close(logits, fixture['logits'], rtol=0, atol=1e-4)


@pytest.mark.parametrize('name, family', CALIBRATED_FIXTURES, ids=[name for name, _ in CALIBRATED_FIXTURES])
def test_eval_logits_with_calibrated_statistics(reference_dir, name, family):
    """Eval mode in float32, with running statistics that keep every layer in its working range."""
    fixture = torch.load(reference_dir / name, weights_only=True)
    calibrated = dict(fixture, state_dict={**fixture['state_dict'], **fixture['running_calibrated']})
    model = build_converted(calibrated, family)
    with torch.no_grad():
        logits = model(fixture['input'])
    torch.testing.assert_close(logits, fixture['logits_eval_calibrated'], rtol=0, atol=1e-4)


def test_rounding_half_up_does_not_reproduce_the_reference_at_ties(reference_dir):
    """The same model with Model_Large's rounding misses: the fixture does exercise ties."""
    fixture = torch.load(reference_dir / 'v3_ref_2.7m_widths_dev.pt', weights_only=True)
    model = build_converted(fixture, 'v3')
    for module in model.modules():
        if hasattr(module, 'tie'):
            module.tie = 'up'
    with torch.no_grad():
        logits = model(fixture['input'])
    assert (logits - fixture['logits']).abs().max() > 1e-2
