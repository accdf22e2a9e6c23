"""The live server the serve tests share: started once (loading the models takes seconds),
on a free port of 127.0.0.1, with a token and small limits, stopped at the end."""

from __future__ import annotations

import importlib.util

import pytest

TOKEN = "test-token-0123456789"
# Small limits, so that the refusals can be shown with small files.
SERVER_ARGS = ("--source", "demo", "--max-upload-mb", "1", "--max-pixels", "2", "--upload-timeout", "2")
SERVER_ARGS += ("--queue", "2")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    if importlib.util.find_spec("fastapi") is None:
        pytest.skip(
            "the serve extras are not installed here (make setup-serve installs requirements/serve.txt)"
        )
    from benchmarks.serve import ServerProcess

    log = tmp_path_factory.mktemp("serve") / "server.log"
    with ServerProcess(*SERVER_ARGS, token=TOKEN, log=log) as server:
        yield server
    assert server.proc is not None and server.proc.returncode == 0, server.log()
