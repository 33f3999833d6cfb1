"""The benchmark's worker protocol: one :class:`~.measurement.Measurement` per subprocess, one request at a time.

Run as ``python -m spikeformer_mm.benchmark.worker``, a worker reads JSON lines on stdin: the first is the
measurement's spec (reply: its figures), every later one a phase, ``infer`` or ``train`` (reply: the seconds, page
faults and system seconds of one call). Replies are single JSON lines on stdout; anything else the measurement
prints goes to stderr. :class:`Worker` is the parent's end.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

import spikeformer_mm

from .measurement import Measurement

# the directory that holds the spikeformer_mm package the parent runs: the worker imports the same one
PACKAGE_ROOT = osp.dirname(osp.dirname(osp.abspath(spikeformer_mm.__file__)))


def serve() -> None:
    """Worker loop (see the module docstring). Replies go to the original stdout; stray prints to stderr."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), 'w', buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    spec = sys.stdin.readline()
    if not spec:  # the round ended (another worker failed) before this one was set up
        return
    measurement = Measurement(json.loads(spec))
    replies.write(json.dumps(measurement.figures) + '\n')
    for line in sys.stdin:
        seconds = measurement.seconds(line.strip())
        replies.write(json.dumps(dict(seconds=seconds, **measurement.last_call_usage)) + '\n')


class Worker:
    """A subprocess measuring ``spec['model']`` at ``spec['T']`` (a :class:`~.measurement.Measurement` spec),
    answering one request at a time, with ``spec['threads']`` OpenMP/MKL threads."""

    def __init__(self, spec: dict):
        self.spec, self.model, self.T = spec, spec['model'], spec['T']
        threads = str(spec['threads'])
        path = os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get('PYTHONPATH')) if p)
        env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONPATH=path)
        self._stderr = tempfile.TemporaryFile(mode='w+')
        self._proc = subprocess.Popen([sys.executable, '-m', __name__], env=env, text=True, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr)

    def request(self, message):
        """Send ``message`` (the spec, or a phase name) and return the worker's reply."""
        try:
            self._proc.stdin.write(json.dumps(message) if isinstance(message, dict) else message)
            self._proc.stdin.write('\n')
            self._proc.stdin.flush()
            reply = self._proc.stdout.readline()
        except BrokenPipeError:
            reply = ''
        if not reply:
            code = self._proc.wait()
            self._stderr.seek(0)
            raise RuntimeError(f'measuring {self.model} at T={self.T} failed (exit {code}):\n'
                               f'{self._stderr.read()[-4000:]}')
        return json.loads(reply)

    def close(self) -> None:
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


if __name__ == '__main__':
    serve()
