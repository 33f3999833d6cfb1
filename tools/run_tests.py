"""Run each test file in its own pytest process and print one closing line ``N passed, N failed``.

mmengine keeps process-wide state (the default registry scope, visualizer and message-hub instances) that a
Runner in one test module leaves behind for the next; one process per file keeps every module as isolated as
when it is run alone. Exit status 1 if any file fails. Extra arguments go to every pytest call.

    python tools/run_tests.py [-x] [-k EXPR]
"""
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv):
    totals = dict(passed=0, failed=0, skipped=0)
    failed_files = []
    start = time.time()
    for path in sorted((ROOT / 'tests').glob('test_*.py')):
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / 'report.xml'
            code = subprocess.call([sys.executable, '-m', 'pytest', '-q', str(path.relative_to(ROOT)),
                                    f'--junitxml={report}', *argv], cwd=ROOT)
            suite = ET.parse(report).getroot().find('testsuite') if report.exists() else None
        if suite is None:
            totals['failed'] += 1
            failed_files.append(path.name)
            continue
        tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in ('tests', 'failures', 'errors',
                                                                           'skipped'))
        totals['passed'] += tests - failures - errors - skipped
        totals['failed'] += failures + errors
        totals['skipped'] += skipped
        if code not in (0, 5) or failures or errors:
            failed_files.append(path.name)
    minutes = (time.time() - start) / 60
    print(f'\ntest files with failures: {", ".join(failed_files) or "none"} ({minutes:.1f} min)')
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if failed_files else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
