"""Energy-per-operation presets (45 nm CMOS, 0.9 V; Horowitz, ISSCC 2014, "Computing's energy problem").

A compute preset gives the energy of one multiply-accumulate (``e_mac``: multiply + add, for layers whose input
is real-valued) and of one accumulate (``e_ac``: add only, for layers whose input is spikes or small integers),
in pJ. A memory preset gives the energy of one 64-bit access, in pJ.
"""

COMPUTE_PRESETS = {
    # 32-bit float: mult 3.7 pJ + add 0.9 pJ. The constants of the Spike-Driven Transformer papers.
    'horowitz45nm_fp32': dict(e_mac=4.6, e_ac=0.9),
    # 16-bit float: mult 1.1 pJ + add 0.4 pJ.
    'horowitz45nm_fp16': dict(e_mac=1.5, e_ac=0.4),
    # 32-bit integer: mult 3.1 pJ + add 0.1 pJ.
    'horowitz45nm_int32': dict(e_mac=3.2, e_ac=0.1),
    # 8-bit integer: mult 0.2 pJ + add 0.03 pJ.
    'horowitz45nm_int8': dict(e_mac=0.23, e_ac=0.03),
}

MEMORY_PRESETS = {
    # pJ per 64-bit access: on-chip SRAM caches of 8 kB, 32 kB and 1 MB, and off-chip DRAM (low end).
    'horowitz45nm_sram_8kb': 10.0,
    'horowitz45nm_sram_32kb': 20.0,
    'horowitz45nm_sram_1mb': 100.0,
    'horowitz45nm_dram': 1300.0,
}

DEFAULT_COMPUTE = 'horowitz45nm_fp32'
DEFAULT_MEMORY = 'horowitz45nm_sram_32kb'


def _lookup(table: dict, name: str, what: str):
    if name not in table:
        raise KeyError(f'unknown {what} preset {name!r}; valid presets: {", ".join(table)}')
    return table[name]


def compute_costs(preset: str = DEFAULT_COMPUTE, e_mac: float = None, e_ac: float = None) -> dict:
    """``dict(preset, e_mac, e_ac)`` in pJ; ``e_mac`` / ``e_ac`` override the preset's values."""
    costs = dict(_lookup(COMPUTE_PRESETS, preset, 'compute energy'))
    for key, value in (('e_mac', e_mac), ('e_ac', e_ac)):
        if value is not None:
            if value < 0:
                raise ValueError(f'{key} must be >= 0 pJ, got {value}')
            costs[key] = float(value)
    return dict(preset=preset, **costs)


def memory_cost_per_byte(preset: str = DEFAULT_MEMORY) -> float:
    """pJ per byte moved for a memory preset (its 64-bit access energy / 8)."""
    return _lookup(MEMORY_PRESETS, preset, 'memory energy') / 8.0
