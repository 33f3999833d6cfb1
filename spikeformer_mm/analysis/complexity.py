"""mmengine's complexity analysis (``FlopAnalyzer``, ``ActivationAnalyzer``, ``get_model_complexity_info``) on
spiking models, without "Unsupported operator" warnings.

mmengine counts by tracing the model with ``torch.jit`` and looking each graph node up in a table of handles
(``JitModelAnalysis.set_op_handle(name, handle)``; a ``None`` handle means "costs nothing, say nothing"). A custom
``torch.autograd.Function`` appears in the graph as ``prim::PythonOp.<class name>``, which no default handle
covers, so every neuron call of a spiking model is reported as unsupported; so are the elementwise additions and
scalings of the residual streams. :func:`op_handles` gives handles for them, on the project's counting
convention (``tools/analysis_tools/model_table.py``, ``docs/energy.md``):

* the neurons (``_SFAFunction``, ``_MultiStepLIFFunction``) cost nothing, as mmengine already treats ``relu``;
* elementwise arithmetic, reductions and max-pooling (residual additions, layer scales, the time average, the
  border value of BN-and-pad, Spikeformer's tokenizer pools) cost nothing;
* the training-mode BatchNorm of :class:`~spikeformer_mm.ops.RecomputableBatchNorm2d` (``_BatchNormTraining``)
  is counted as mmengine counts a training-mode ``aten::batch_norm``;
* ``aten::matmul`` counts broadcast batch dimensions (:func:`matmul_flops`).

Convolutions, linear layers and BatchNorm keep mmengine's own handles.
"""
from math import prod
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.analysis import ActivationAnalyzer, FlopAnalyzer, parameter_count
from mmengine.analysis import complexity_analysis as mmengine_complexity
from mmengine.analysis.jit_handles import Handle, get_shape, norm_flop_counter
from mmengine.analysis.print_helper import _format_size, complexity_stats_str, complexity_stats_table
from torch import nn

from spikeformer_mm.ops.batch_norm import _BatchNormTraining
from spikeformer_mm.ops.lif import _MultiStepLIFFunction
from spikeformer_mm.ops.sfa import _SFAFunction


def python_op(function: type) -> str:
    """The name under which a ``torch.autograd.Function`` subclass appears in mmengine's traced graph."""
    return f'prim::PythonOp.{function.__name__}'


NEURON_OPS = (python_op(_SFAFunction), python_op(_MultiStepLIFFunction))
ELEMENTWISE_OPS = ('aten::add', 'aten::add_', 'aten::sub', 'aten::rsub', 'aten::mul', 'aten::mul_', 'aten::div',
                   'aten::div_', 'aten::sqrt', 'aten::rsqrt', 'aten::neg', 'aten::mean', 'aten::sum',
                   'aten::clamp_min', 'aten::clamp_max', 'aten::round', 'aten::reciprocal',
                   'aten::max_pool2d')  # pooling is not a synaptic op either (mmengine has no max-pool handle)
# Ops counted as zero FLOPs and zero activations.
ZERO_COST_OPS = NEURON_OPS + ELEMENTWISE_OPS


def zero_cost(inputs, outputs) -> int:
    """The handle of an op that costs nothing.

    mmengine ignores an op whose handle is ``None``, but it looks ``prim::PythonOp`` nodes up in its ignore list
    without their function name (``JitModelAnalysis._should_ignore_node``), so a custom autograd Function needs a
    real handle.
    """
    return 0


def matmul_flops(inputs, outputs) -> int:
    """Multiply-adds of ``aten::matmul``: output elements x inner size, so broadcast batch dimensions count.

    mmengine's ``matmul_flop_jit`` takes the batch size from the first operand only, which undercounts a
    broadcast product such as the spike-driven ``Q K^T`` of ``[D, 1, ...] @ [1, D, ...]`` planes; for products
    without broadcasting the two agree.
    """
    return prod(get_shape(outputs[0])) * get_shape(inputs[0])[-1]


def op_handles(kind: str = 'flops') -> Dict[str, Optional[Handle]]:
    """``{op name: handle}`` to pass to ``FlopAnalyzer.set_op_handle(**...)`` (``kind='flops'``) or
    ``ActivationAnalyzer.set_op_handle(**...)`` (``kind='activations'``)."""
    if kind not in ('flops', 'activations'):
        raise ValueError(f"kind must be 'flops' or 'activations', got {kind!r}")
    handles: Dict[str, Optional[Handle]] = {name: zero_cost if name.startswith('prim::PythonOp') else None
                                            for name in ZERO_COST_OPS}
    # RecomputableBatchNorm2d in training mode: its statistics, then the normalisation as a custom Function whose
    # 2nd argument is the weight, as in aten::batch_norm; counted as mmengine counts a training-mode BatchNorm.
    handles['aten::batch_norm_update_stats'] = None
    if kind == 'flops':
        handles[python_op(_BatchNormTraining)] = norm_flop_counter(1)
        handles['aten::matmul'] = matmul_flops
    else:  # mmengine counts the outputs of convs and matrix products as activations, not of norms or resizing
        handles[python_op(_BatchNormTraining)] = zero_cost
        handles.update(dict.fromkeys(('aten::batch_norm', 'aten::upsample_nearest2d', 'aten::upsample_bilinear2d')))
    return handles


# mmengine's names (``FlopAnalyzer.by_operator``) of the multiply-accumulate ops the model table counts: convs,
# linear layers and matrix products
SYNAPTIC_OPS = ('conv', 'linear', 'addmm', 'matmul', 'mm', 'bmm', 'einsum')


Inputs = Union[torch.Tensor, Tuple[torch.Tensor, ...]]


def flop_analyzer(model: nn.Module, inputs: Inputs) -> FlopAnalyzer:
    """mmengine's ``FlopAnalyzer`` with :func:`op_handles`, and without the "never called" warning (the LIF's
    surrogate-gradient module and zero-rate drop-path modules are not called in a forward pass, by design)."""
    analyzer = FlopAnalyzer(model, inputs).set_op_handle(**op_handles('flops'))
    return analyzer.uncalled_modules_warnings(False)


def activation_analyzer(model: nn.Module, inputs: Inputs) -> ActivationAnalyzer:
    """mmengine's ``ActivationAnalyzer`` with :func:`op_handles`, without the "never called" warning."""
    analyzer = ActivationAnalyzer(model, inputs).set_op_handle(**op_handles('activations'))
    return analyzer.uncalled_modules_warnings(False)


def complexity_info(model: nn.Module, inputs: Inputs, show_table: bool = True, show_arch: bool = True) -> dict:
    """What ``mmengine.analysis.get_model_complexity_info(model, inputs=inputs)`` returns (same keys, same
    tables), counted with :func:`flop_analyzer` and :func:`activation_analyzer`, plus the parts of ``flops``
    that are convs, linear layers and matrix products (``synaptic_flops``, :data:`SYNAPTIC_OPS`) and BatchNorm
    (``batch_norm_flops``).

    Args:
        model: the module to trace; it is called as ``model(*inputs)``.
        inputs: a tensor ``[B, ...]`` or a tuple of the model's positional inputs.

    Trace in eval mode (the neurons' training-mode autograd bookkeeping is not traceable in every model).
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    flops, activations = flop_analyzer(model, inputs), activation_analyzer(model, inputs)
    with torch.enable_grad():  # with gradients off the neurons skip their autograd Function: other graph nodes
        flops.total(), activations.total()
    params = parameter_count(model)['']
    by_operator = flops.by_operator()
    info = dict(flops=flops.total(), flops_str=_format_size(flops.total()),
                synaptic_flops=sum(by_operator.get(op, 0) for op in SYNAPTIC_OPS),
                batch_norm_flops=by_operator.get('batch_norm', 0), activations=activations.total(),
                activations_str=_format_size(activations.total()), params=params,
                params_str=_format_size(params), out_table='', out_arch='')
    if show_table:
        info['out_table'] = complexity_stats_table(flops=flops, activations=activations, show_param_shapes=True)
        info['out_table'] = '\n' + info['out_table']
    if show_arch:
        info['out_arch'] = complexity_stats_str(flops=flops, activations=activations)
    return info


def register_mmengine_handles() -> None:
    """Add :func:`op_handles` to mmengine's default handle tables, so that a stock
    ``mmengine.analysis.get_model_complexity_info`` call (or a new ``FlopAnalyzer``) counts spiking models
    without "Unsupported operator" warnings.

    mmengine has no public registry of default handles: ``FlopAnalyzer`` and ``ActivationAnalyzer`` copy the
    module-level tables ``_DEFAULT_SUPPORTED_FLOP_OPS`` / ``_DEFAULT_SUPPORTED_ACT_OPS`` of
    ``mmengine.analysis.complexity_analysis`` when they are built, so this writes :func:`op_handles` into those
    tables: new entries, and the ``aten::matmul`` FLOP handle replaced by :func:`matmul_flops` (equal to
    mmengine's except on broadcast products, which mmengine undercounts). This changes mmengine's counting for
    the whole process, for every model. The "never called" warning of a stock call cannot be switched off this
    way; :func:`complexity_info` and ``tools/analysis_tools/get_flops.py`` switch it off.
    """
    for table, kind in ((getattr(mmengine_complexity, '_DEFAULT_SUPPORTED_FLOP_OPS', None), 'flops'),
                        (getattr(mmengine_complexity, '_DEFAULT_SUPPORTED_ACT_OPS', None), 'activations')):
        if not isinstance(table, dict):
            raise RuntimeError('mmengine.analysis.complexity_analysis has no default handle tables '
                               '(_DEFAULT_SUPPORTED_FLOP_OPS/_DEFAULT_SUPPORTED_ACT_OPS) in this mmengine version; '
                               'use spikeformer_mm.analysis.complexity_info instead')
        table.update(op_handles(kind))
