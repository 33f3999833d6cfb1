"""mmengine's model analysis (FLOPs, activations, parameters) on spiking models."""
from .complexity import ZERO_COST_OPS, complexity_info, flop_analyzer, op_handles, register_mmengine_handles

__all__ = ['ZERO_COST_OPS', 'op_handles', 'flop_analyzer', 'complexity_info', 'register_mmengine_handles']
