"""Shared by the whole suite, which mirrors the package: test_models/,
test_datasets/, test_engine/, test_tools/; top level for configs, layout,
patches and linters.

Helpers that tests import live beside this file (pytest puts this folder
on ``sys.path``): ``tool_runner`` runs the tools as a user would and
shrinks the demo to seconds; ``own_data`` makes a COCO-format dataset of
one's own (``own_data``, the fixture, once per session); ``malicious``
builds a pickle that would run code. Minutes-long end-to-end runs carry
the ``e2e`` marker.
"""
import socket
from pathlib import Path

import pytest
from own_data import make_own_data


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing listens on, for a distributed run's rendezvous."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='session')
def own_data(tmp_path_factory) -> Path:
    """A tiny COCO-format dataset of one's own, shared: tests read it."""
    return make_own_data(tmp_path_factory.mktemp('own') / 'data')
