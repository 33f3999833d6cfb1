"""``with_cp``: checkpointed backbones compute the same outputs, gradients and BN statistics with less saved memory."""
import contextlib

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from spikeformer_mm.models.backbones import ESpikeFormer, MetaSpikeFormer, Spikeformer, base_spiking_backbone
from spikeformer_mm.ops.spike_storage import pack_saved_tensor, unpack_saved_tensor

BACKBONES = {
    'meta_spikeformer': lambda **kw: MetaSpikeFormer(dict(embed_dims=[16, 32, 64, 96]), T=2, **kw),
    'e_spikeformer': lambda **kw: ESpikeFormer(dict(embed_dims=[16, 32, 64, 96]), T=2, **kw),
    'spikeformer': lambda **kw: Spikeformer(dict(embed_dims=64, depth=2), T=2, **kw),
}


def _train_step(name: str, with_cp: bool, monkeypatch):
    torch.manual_seed(0)
    model = BACKBONES[name](with_cp=with_cp, drop_path_rate=0.2, out_indices=(1, 4)).train()
    images = torch.randn(2, 3, 64, 64)
    saved_bytes = []

    def pack(tensor):  # the backbone's own 1-byte spike storage, counting what autograd keeps
        packed = pack_saved_tensor(tensor)
        kept = packed[0] if isinstance(packed, tuple) else packed
        saved_bytes.append(kept.numel() * kept.element_size())
        return packed

    @contextlib.contextmanager
    def counting_storage(enabled=True):
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack_saved_tensor):
            yield

    monkeypatch.setattr(base_spiking_backbone, 'compact_spike_storage', counting_storage)
    torch.manual_seed(1)  # the same drop-path draws in both runs
    outs = model(images)
    sum(out.mean() for out in outs).backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    stats = {n: b for n, b in model.state_dict().items() if 'running' in n or 'num_batches' in n}
    return model, outs, grads, stats, sum(saved_bytes)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_checkpointing_changes_memory_not_results(name, monkeypatch):
    plain, outs, grads, stats, plain_bytes = _train_step(name, False, monkeypatch)
    cp, outs_cp, grads_cp, stats_cp, cp_bytes = _train_step(name, True, monkeypatch)
    assert list(cp.state_dict()) == list(plain.state_dict())  # checkpoints stay interchangeable
    for out, out_cp in zip(outs, outs_cp):
        assert torch.equal(out, out_cp)
    assert grads.keys() == grads_cp.keys() and len(grads) == sum(1 for _ in plain.parameters())
    for key in grads:
        assert torch.isfinite(grads[key]).all(), key
        torch.testing.assert_close(grads_cp[key], grads[key], rtol=1e-5, atol=1e-6, msg=key)
    for key in stats:  # BN running statistics are updated once, not again by the recomputation
        assert torch.equal(stats_cp[key], stats[key]), key
    assert all(m.num_batches_tracked.item() == 1 for m in cp.modules() if isinstance(m, _BatchNorm))
    assert plain_bytes > 0 and cp_bytes < 0.5 * plain_bytes  # what autograd keeps between the passes


def test_checkpointing_is_off_outside_training():
    torch.manual_seed(0)
    model = BACKBONES['meta_spikeformer'](with_cp=True).eval()
    plain = BACKBONES['meta_spikeformer']().eval()
    plain.load_state_dict(model.state_dict())
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(images)[0], plain(images)[0])
