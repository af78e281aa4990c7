"""Shared by the whole suite, which mirrors the package: test_models/,
test_datasets/, test_engine/, test_tools/; top level for configs, layout,
patches and linters.

Helpers that tests import live beside this file (pytest puts this folder
on ``sys.path``): ``tool_runner`` runs the tools as a user would and
shrinks the demo to seconds; ``malicious`` builds a pickle that would run
code. Minutes-long end-to-end runs carry the ``e2e`` marker.
"""
import socket

import pytest


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing listens on, for a distributed run's rendezvous."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
