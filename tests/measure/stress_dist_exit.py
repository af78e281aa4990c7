"""Stress the exit of 2-process CPU training (not part of CI).

Runs ``tools/dist_train.sh`` on the tiny shapes demo again and again, each
run beside ``--hogs`` CPU-bound processes, and reports how many runs that
finished training still failed: an abort at exit ("terminate called
without an active exception", exit -6) or any other non-zero status.
Each failed run keeps its log, and core files where the system writes them
into the run's folder (``ulimit -c unlimited`` is set for the runs), under
``--keep``.

    python tests/measure/stress_dist_exit.py --runs 50 --hogs 1 \
        --keep /tmp/stress
"""
import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

# tests/, where tool_runner is, as pytest puts it on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tool_runner import MASK_DEMO, TOOLS, run_tool, tiny_shapes_options  # noqa: E402 E501  isort: skip

ABORT = 'terminate called without an active exception'


def hog(stop) -> None:
    """Keep one core busy until ``stop`` is set."""
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x += 1


def allow_core_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def one_run(index: int, data: Path, keep: Path) -> str:
    """'ok', 'abort' or 'failed (exit N)'; a failed run's folder is kept."""
    run_dir = Path(tempfile.mkdtemp(prefix=f'run{index:03d}_'))
    os.environ['PORT'] = str(29600 + index % 300)
    result = run_tool(
        [
            'bash', TOOLS / 'dist_train.sh', MASK_DEMO, '2', '--work-dir',
            run_dir / 'work', '--cfg-options'
        ] + tiny_shapes_options(data),
        run_dir,
        timeout=900)
    log = result.stdout + result.stderr
    if result.returncode == 0 and ABORT not in log:
        shutil.rmtree(run_dir)
        return 'ok'
    (run_dir / 'output.log').write_text(log)
    target = keep / run_dir.name
    shutil.move(str(run_dir), target)
    finished = 'checkpoints and logs:' in result.stdout
    kind = 'abort' if ABORT in log else f'failed (exit {result.returncode})'
    return f'{kind}{"" if finished else ", before training finished"}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=50)
    parser.add_argument(
        '--hogs', type=int, default=1, help='CPU-bound processes beside')
    parser.add_argument(
        '--keep',
        type=Path,
        default=Path(tempfile.gettempdir()) / 'stress_dist_exit',
        help='where failed runs are kept')
    args = parser.parse_args()
    args.keep.mkdir(parents=True, exist_ok=True)
    allow_core_files()
    data = Path(tempfile.mkdtemp(prefix='stress_data_'))
    stop = multiprocessing.Event()
    hogs = [
        multiprocessing.Process(target=hog, args=(stop, ), daemon=True)
        for _ in range(args.hogs)
    ]
    for p in hogs:
        p.start()
    outcomes = []
    start = time.time()
    try:
        for i in range(args.runs):
            outcome = one_run(i, data, args.keep)
            outcomes.append(outcome)
            print(
                f'run {i + 1}/{args.runs}: {outcome} '
                f'({time.time() - start:.0f} s)',
                flush=True)
    finally:
        stop.set()
        for p in hogs:
            p.join()
        shutil.rmtree(data, ignore_errors=True)
    failed = [o for o in outcomes if o != 'ok']
    aborts = sum(o.startswith('abort') for o in outcomes)
    print(f'{len(outcomes)} runs beside {args.hogs} CPU hog(s): '
          f'{len(failed)} failed ({aborts} aborts at exit); failed runs '
          f'kept in {args.keep}')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
