"""RecomputableBatchNorm2d: BatchNorm2d's results, and a following LIF that keeps none of its output."""
import pytest
import torch
from torch import nn

from spikeformer_mm.ops import MultiStepLIF, RecomputableBatchNorm2d
from spikeformer_mm.ops.batch_norm import bn_source_of


def _pair(momentum=0.1, affine=True, channels=6, track=True):
    torch.manual_seed(0)
    stock = nn.BatchNorm2d(channels, momentum=momentum, affine=affine, track_running_stats=track)
    if affine:
        with torch.no_grad():
            stock.weight.uniform_(0.5, 1.5)
            stock.bias.uniform_(-0.5, 0.5)
    ours = RecomputableBatchNorm2d(channels, momentum=momentum, affine=affine, track_running_stats=track)
    ours.load_state_dict(stock.state_dict())
    return stock, ours


@pytest.mark.parametrize('momentum, affine, track', [(0.1, True, True), (None, True, True), (0.3, False, True),
                                                     (0.1, True, False)])
def test_training_matches_stock_batchnorm(momentum, affine, track):
    stock, ours = _pair(momentum, affine, track=track)
    x = torch.randn(8, 6, 5, 7) * 3 + 1
    _check_training_matches(stock, ours, x, track, rtol=1e-5, atol=1e-5)


def test_training_in_float64_matches_stock_batchnorm_to_float64_rounding():
    stock, ours = _pair()
    stock.double(), ours.double()
    x = torch.randn(8, 6, 5, 7, dtype=torch.float64) * 3 + 1
    assert bn_source_of(ours(x.requires_grad_()).view(2, 4, 6, 5, 7)) is not None  # the recomputable path
    ours.load_state_dict(stock.state_dict())
    _check_training_matches(stock, ours, x.detach(), True, rtol=1e-12, atol=1e-12)


def _check_training_matches(stock, ours, x, track, rtol, atol):
    grad = torch.randn_like(x)
    results = []
    for module in (stock, ours):
        xi = x.clone().requires_grad_()
        for _ in range(2):  # the second step checks running statistics and the cumulative average
            out = module(xi)
        out.backward(grad)
        params = [p.grad for p in module.parameters()]
        results.append((out, xi.grad, params, module.state_dict()))
    (out_s, gx_s, gp_s, sd_s), (out_o, gx_o, gp_o, sd_o) = results
    torch.testing.assert_close(out_o, out_s, rtol=rtol, atol=atol)
    torch.testing.assert_close(gx_o, gx_s, rtol=10 * rtol, atol=atol)
    for g_o, g_s in zip(gp_o, gp_s):
        torch.testing.assert_close(g_o, g_s, rtol=10 * rtol, atol=atol)
    assert sd_o.keys() == sd_s.keys()
    for key in sd_s:
        torch.testing.assert_close(sd_o[key], sd_s[key], rtol=rtol, atol=atol / 10, msg=key)
    assert (sd_o['num_batches_tracked'].item() == 2) if track else 'running_mean' not in sd_o


def test_evaluation_and_no_grad_are_the_stock_layer_bit_for_bit():
    stock, ours = _pair()
    x = torch.randn(4, 6, 9, 9)
    assert torch.equal(ours.eval()(x), stock.eval()(x))
    stock.train(), ours.train()
    with torch.no_grad():
        assert torch.equal(ours(x), stock(x))
    assert bn_source_of(ours(x).view(2, 2, 6, 9, 9)) is not None  # training with grad: tagged


def _lif_after_bn(T, untag, modify_in_place=False):
    """Gradients of ``sum(LIF(BN(conv_out)) * w)`` and the bytes autograd keeps, ``[T, 2, 6, 8, 8]``."""
    torch.manual_seed(0)
    bn = RecomputableBatchNorm2d(6)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(0.0, 1.0)
    x = torch.randn(T * 2, 6, 8, 8, requires_grad=True)
    weights = torch.randn(T, 2, 6, 8, 8)
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = bn(x * 1.0).view(T, 2, 6, 8, 8)
        if untag:
            y = y.clone()
        if modify_in_place:
            y.mul_(1.0)
        spikes = MultiStepLIF()(y)
    (spikes * weights).sum().backward()
    return spikes, x.grad, bn.weight.grad, sum(saved.values())


@pytest.mark.parametrize('T', [1, 4])
def test_lif_recomputes_its_batchnorm_input_bit_exactly(T):
    spikes, grad_x, grad_w, kept = _lif_after_bn(T, untag=False)
    spikes_ref, grad_x_ref, grad_w_ref, kept_ref = _lif_after_bn(T, untag=True)
    assert spikes.sum() > 0 and (1 - spikes).sum() > 0
    assert torch.equal(spikes, spikes_ref)
    assert torch.equal(grad_x, grad_x_ref) and torch.equal(grad_w, grad_w_ref)
    assert kept_ref - kept == T * 2 * 6 * 8 * 8 * 4 - 2 * 6 * 4  # its own float copy, for two [C] vectors


def test_in_place_change_after_batchnorm_falls_back_to_keeping_the_input():
    _, grad_x, _, kept = _lif_after_bn(4, untag=False, modify_in_place=True)
    _, grad_x_ref, _, kept_ref = _lif_after_bn(4, untag=True)
    assert torch.equal(grad_x, grad_x_ref)
    assert kept == kept_ref


def test_partial_views_are_not_recomputed():
    bn = RecomputableBatchNorm2d(6).train()
    y = bn(torch.randn(4, 6, 3, 3, requires_grad=True)).view(2, 2, 6, 3, 3)
    assert bn_source_of(y) is not None
    assert bn_source_of(y[:1]) is None
    assert bn_source_of(y.transpose(0, 1)) is None


def _backbone_step(monkeypatch, use_bn_source):
    """A tiny Meta-SpikeFormer training step at T = 2: gradients and the bytes autograd keeps."""
    from spikeformer_mm.models.backbones import MetaSpikeFormer, base_spiking_backbone
    from spikeformer_mm.ops import lif
    from spikeformer_mm.ops.spike_storage import pack_saved_tensor, unpack_saved_tensor
    if not use_bn_source:
        monkeypatch.setattr(lif, 'bn_source_of', lambda x: None)
    saved = {}

    def pack(tensor):
        packed = pack_saved_tensor(tensor)
        kept = packed[0] if isinstance(packed, tuple) else packed
        saved[kept.untyped_storage().data_ptr()] = kept.untyped_storage().nbytes()
        return packed

    monkeypatch.setattr(base_spiking_backbone, 'compact_spike_storage',
                        lambda enabled=True: torch.autograd.graph.saved_tensors_hooks(pack, unpack_saved_tensor))
    torch.manual_seed(0)
    model = MetaSpikeFormer(dict(embed_dims=[16, 32, 64, 96]), T=2, out_indices=(1, 4)).train()
    outs = model(torch.randn(2, 3, 64, 64))
    sum(out.mean() for out in outs).backward()
    return {n: p.grad for n, p in model.named_parameters()}, sum(saved.values())


def test_backbone_keeps_less_with_identical_gradients(monkeypatch):
    grads, kept = _backbone_step(monkeypatch, use_bn_source=True)
    with monkeypatch.context() as patch:
        grads_ref, kept_ref = _backbone_step(patch, use_bn_source=False)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        assert torch.equal(grads[name], grads_ref[name]), name
    assert kept < 0.9 * kept_ref, (kept, kept_ref)  # 0.83 for this model; 15M: 842 vs 1109 MB a step


@pytest.mark.parametrize('frames', [2, 4])
@pytest.mark.parametrize('recomputable_path', [True, False])  # the CPU training path, and the stock fallback
def test_one_frame_counted_as_copies_has_the_running_statistics_of_the_copies(frames, recomputable_path):
    """Direct encoding runs the stem once per image: its statistics must be those of the repeated input."""
    from spikeformer_mm.ops.batch_norm import counting_frames
    stock, ours = _pair()
    x = torch.randn(3, 6, 5, 7) * 2 + 1
    expected = stock(x.repeat(frames, 1, 1, 1))[:3]
    with counting_frames(ours, frames), torch.set_grad_enabled(recomputable_path):
        out = ours(x)
    assert ours.frames == 1  # restored
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    for key in ('running_mean', 'running_var'):
        torch.testing.assert_close(getattr(ours, key), getattr(stock, key), rtol=1e-6, atol=1e-7)
    uncounted = _pair()[1]
    uncounted(x)
    assert not torch.allclose(uncounted.running_var, stock.running_var, rtol=1e-5, atol=0)  # the count matters
