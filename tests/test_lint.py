"""The linter and formatters configured in setup.cfg report nothing."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY_DIRS = ['mmdet_fasternet', 'configs', 'tools', 'tests', 'startup_hook']


@pytest.mark.parametrize(
    'command', [
        ['flake8'],
        ['isort', '--check-only', '--diff'],
        ['yapf', '--diff', '--recursive'],
    ],
    ids=['flake8', 'isort', 'yapf'])
def test_clean(command):
    dirs = [d for d in PY_DIRS if (ROOT / d).is_dir()]
    result = subprocess.run([sys.executable, '-m', *command, *dirs],
                            cwd=ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0 and not result.stdout.strip(), (
        result.stdout + result.stderr)
