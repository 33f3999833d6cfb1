"""Energy estimation for spiking models: firing rates, synaptic operations (SOPs) and energy per image."""
from .counter import EnergyCounter
from .presets import COMPUTE_PRESETS, MEMORY_PRESETS, compute_costs
from .report import build_report, format_table, merge_states, save_csv, save_json, save_plot, scalar_metrics

__all__ = ['EnergyCounter', 'COMPUTE_PRESETS', 'MEMORY_PRESETS', 'compute_costs', 'build_report', 'format_table',
           'merge_states', 'save_csv', 'save_json', 'save_plot', 'scalar_metrics']
