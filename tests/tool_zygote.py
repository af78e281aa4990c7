"""A warm interpreter for tools/*.py: it imports what the tools import once,
then forks a child per run. Each child is its own process, with the cwd,
environment, argv, output files and exit status of ``python tools/x.py``;
only the imports done here are shared, so a run saves the seconds that
importing torch and mmdet takes.

Started by ``tool_runner`` with the environment its runs get. Protocol on
stdin/stdout, a JSON line each: a request ``{"argv", "cwd", "env",
"stdout", "stderr"}`` (the two output file paths), answered by
``{"pid": N}`` and, when the child has ended, ``{"returncode": N}``
(``-signal`` if a signal ended it, as subprocess reports it).
"""
import json
import os
import runpy
import sys
import traceback

import mmdet.datasets  # noqa: F401  what the Runner imports for a config
import mmdet.engine  # noqa: F401
import mmdet.evaluation  # noqa: F401
import mmdet.models  # noqa: F401
import mmdet.visualization  # noqa: F401

import mmdet_fasternet.apis.benchmark  # noqa: F401  what tools/*.py import
import mmdet_fasternet.apis.cli  # noqa: F401
import mmdet_fasternet.apis.convert  # noqa: F401
import mmdet_fasternet.apis.curves  # noqa: F401
import mmdet_fasternet.apis.dataset_config  # noqa: F401
import mmdet_fasternet.apis.export_tools  # noqa: F401
import mmdet_fasternet.apis.flops  # noqa: F401
import mmdet_fasternet.apis.inference  # noqa: F401
import mmdet_fasternet.apis.runner  # noqa: F401


def run_script(argv: list) -> int:
    """Run ``argv[0]`` as ``__main__``; its exit status as Python gives
    it."""
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
    try:
        runpy.run_path(argv[0], run_name='__main__')
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def child(request: dict) -> int:
    os.chdir(request['cwd'])
    os.environ.clear()
    os.environ.update(request['env'])
    for fd, path in ((0, os.devnull), (1, request['stdout']),
                     (2, request['stderr'])):
        flags = os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_TRUNC
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    return run_script(request['argv'])


def reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + '\n')
    sys.stdout.flush()


def serve() -> int:
    """Fork a child per request until stdin closes; the child's status
    once it has run."""
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            return child(request)
        reply(dict(pid=pid))
        _, status = os.waitpid(pid, 0)
        reply(dict(returncode=os.waitstatus_to_exitcode(status)))
    return 0


if __name__ == '__main__':
    sys.exit(serve())
