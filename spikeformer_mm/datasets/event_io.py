"""Readers for the published event-camera file formats: DVS128 Gesture (AEDAT 3.1) and CIFAR10-DVS (AEDAT 2.0).

Both return a dict of equal-length 1-D integer arrays ``t`` (microseconds), ``x`` (column), ``y`` (row) and
``p`` (polarity 0/1), the event layout of spikingjelly's datasets; both sensors are 128 x 128.
"""
import struct
from pathlib import Path
from typing import Dict, Union

import numpy as np

SENSOR_SIZES = {'aedat3.1': (128, 128), 'cifar10-dvs': (128, 128)}
_AEDAT3_HEADER_END = b'#!END-HEADER\r\n'
_AEDAT3_PACKET_HEADER = struct.Struct('<HHIIIIII')  # type, source, size, ts offset, ts overflow, capacity, ...
_POLARITY_EVENT = 1


def read_aedat31(path: Union[str, Path]) -> Dict[str, np.ndarray]:
    """Polarity events of an AEDAT 3.1 file (the DVS128 Gesture recordings), vectorised.

    Gives exactly what spikingjelly's ``load_aedat_v3`` gives (all ``eventCapacity`` slots of every polarity
    packet, timestamps extended by ``eventTSOverflow << 31``), without its per-event Python loop.
    """
    with open(path, 'rb') as f:
        data = f.read()
    end = data.find(_AEDAT3_HEADER_END)
    if not data.startswith(b'#!AER-DAT3') or end < 0:
        raise ValueError(f'{path} is not an AEDAT 3.x file (no "#!AER-DAT3" header ending in "#!END-HEADER")')
    offset = end + len(_AEDAT3_HEADER_END)
    chunks, overflows = [], []
    while offset + _AEDAT3_PACKET_HEADER.size <= len(data):
        e_type, _, e_size, _, e_overflow, e_capacity, _, _ = _AEDAT3_PACKET_HEADER.unpack_from(data, offset)
        offset += _AEDAT3_PACKET_HEADER.size
        length = e_size * e_capacity
        if offset + length > len(data):
            raise ValueError(f'{path} is truncated: an event packet needs {length} bytes at offset {offset}, '
                             f'the file has {len(data) - offset}')
        if e_type == _POLARITY_EVENT and length:
            words = np.frombuffer(data, dtype='<u4', count=length // 4, offset=offset).reshape(e_capacity, -1)
            chunks.append(words[:, :2])
            overflows.append(np.full(e_capacity, e_overflow, dtype=np.int64))
        offset += length
    if not chunks:
        return {key: np.zeros(0, dtype=np.int64) for key in 'txyp'}
    words = np.concatenate(chunks).astype(np.int64)
    address = words[:, 0]
    return {'t': words[:, 1] | (np.concatenate(overflows) << 31),
            'x': (address >> 17) & 0x7FFF,
            'y': (address >> 2) & 0x7FFF,
            'p': (address >> 1) & 1}


def read_cifar10_dvs(path: Union[str, Path]) -> Dict[str, np.ndarray]:
    """Events of a CIFAR10-DVS ``.aedat`` (AEDAT 2.0) file, through spikingjelly's own reader.

    spikingjelly also applies the dataset's orientation fix (``x = 127 - y``, ``y = 127 - x``, ``p = 1 - p``).
    """
    with open(path, 'rb') as f:
        if not f.read(2) == b'#!':
            raise ValueError(f'{path} is not an AEDAT 2.0 file (no "#!AER-DAT2.0" header)')
    from spikingjelly.datasets.cifar10_dvs import _load_origin_data
    events = _load_origin_data(path)
    return {key: np.asarray(events[key]).astype(np.int64) for key in 'txyp'}


READERS = {'aedat3.1': read_aedat31, 'cifar10-dvs': read_cifar10_dvs}
