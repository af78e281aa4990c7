"""A finished distributed run exits cleanly: its process group's threads
are gone before the interpreter finalises (see engine/distributed.py)."""
import subprocess
import sys
import textwrap

import pytest

# One rank of gloo, a DDP step, then the exit; the first atexit handler
# registered runs last and reports the gloo threads still alive.
SCRIPT = textwrap.dedent('''
    import atexit, os, sys, tempfile
    import torch, torch.distributed as dist

    def gloo_threads():
        names = [open(f'/proc/self/task/{t}/comm').read().strip()
                 for t in os.listdir('/proc/self/task')]
        return sorted(n for n in names if 'gloo' in n)

    atexit.register(lambda: print('at exit:', gloo_threads(), flush=True))
    if MODE != 'torch only':
        import mmdet_fasternet  # noqa: F401

    def train():  # like mmdet's tools/train.py: the model dies with main()
        store = os.path.join(tempfile.mkdtemp(), 'store')
        dist.init_process_group('gloo', init_method=f'file://{store}',
                                rank=0, world_size=1)
        model = torch.nn.parallel.DistributedDataParallel(
            torch.nn.Linear(4, 4))
        model(torch.randn(2, 4)).sum().backward()
        print('running:', gloo_threads(), flush=True)

    train()
    if MODE == 'release':
        from mmdet_fasternet.engine.distributed import release_process_group
        release_process_group()
        print('released:', gloo_threads(), flush=True)
''')


def run(mode: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, '-c', f'MODE = {mode!r}\n' + SCRIPT],
        capture_output=True,
        text=True,
        timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_release_process_group_joins_the_gloo_threads():
    out = run('release').stdout
    assert "running: ['gloo_tcp_loop', 'pt_gloo_runloop'" in out
    assert 'released: []' in out and 'at exit: []' in out


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_importing_the_package_ends_the_group_before_finalisation():
    # What mmdet's own tools/train.py does: never destroy the group.
    assert 'at exit: []' in run('import only').stdout
    # Plain torch keeps the group's threads into finalisation, where one
    # releasing a tensor can abort the process (torch's behaviour, which
    # the package works around; if this fails, torch has changed).
    assert "at exit: ['gloo_tcp_loop', 'pt_gloo_runloop'" in run(
        'torch only').stdout
