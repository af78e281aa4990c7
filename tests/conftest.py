"""Shared by the whole suite, which mirrors the package: test_models/,
test_datasets/, test_engine/, test_tools/; top level for configs, layout,
patches, packaging and linters.

Helpers that tests import live beside this file (pytest puts this folder
on ``sys.path``): ``tool_runner`` runs the tools as a user would and
shrinks the demo to seconds; ``own_data`` makes a COCO-format dataset of
one's own (``own_data``, the fixture, once per session); ``malicious``
builds a pickle that would run code. Minutes-long end-to-end runs carry
the ``e2e`` marker.

What a test may say about the machine it runs on: a test asserts what the
project decides or computes. Where a runtime decides per CPU (OpenVINO's
precision, onnxruntime's and oneDNN's kernels, inductor's compiler,
torch's dispatch), the test asserts the project's own report of that
decision (the line a tool prints, what it records in a file,
``cpu.lacks``, ``patches.torch_numpy``'s checks) or compares outputs
within a stated tolerance; it never predicts the runtime's choice for the
CPU at hand. A condition a test needs absent (a compiler, a CPU flag) is
made absent inside the test (PATH, monkeypatch). Every test passes on the
four kinds of CPU these machines have: Intel with AMX, Intel AVX-512 VNNI
without BF16, AMD Zen 4 with AVX-512 BF16, AMD with AVX2 only. Timings
are printed by the tools, never asserted.
"""
import functools
import http.server
import socket
import threading
from pathlib import Path
from typing import List, NamedTuple

import pytest
from own_data import make_own_data


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing listens on, for a distributed run's rendezvous."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Served(NamedTuple):
    root: Path  # files put here are served
    base: str  # their URL is base + '/' + name
    requests: List[str]  # the paths requested so far


@pytest.fixture
def http_root(tmp_path, monkeypatch) -> Served:
    """A local HTTP server for checkpoint URLs; torch's hub cache (where
    downloads go) is under tmp_path."""
    root = tmp_path / 'www'
    root.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    requests: List[str] = []

    class QuietHandler(http.server.SimpleHTTPRequestHandler):

        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Served(root, f'http://127.0.0.1:{server.server_address[1]}',
                 requests)
    server.shutdown()


@pytest.fixture(scope='session')
def own_data(tmp_path_factory) -> Path:
    """A tiny COCO-format dataset of one's own, shared: tests read it."""
    return make_own_data(tmp_path_factory.mktemp('own') / 'data')
