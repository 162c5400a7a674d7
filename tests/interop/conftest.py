"""Starts the real `arus` binary for each test, on SQLite and on PostgreSQL.

Environment:
- ARUS_BIN: the binary (default: target/debug/arus of this checkout);
- ARUS_TEST_POSTGRES_URL: a PostgreSQL server to create test databases on (scripts/test starts
  one); without it the PostgreSQL half fails unless ARUS_TEST_SKIP_POSTGRES=1.
"""

import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKEN = "interop-admin-token"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def postgres_database():
    base = os.environ.get("ARUS_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("ARUS_TEST_SKIP_POSTGRES") == "1":
            pytest.skip("ARUS_TEST_SKIP_POSTGRES=1")
        pytest.fail("ARUS_TEST_POSTGRES_URL is not set (run scripts/test)")
    name = "arus_interop_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    return base.rsplit("/", 1)[0] + "/" + name


class Server:
    def __init__(self, database, extra_args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/ocpp"
        binary = os.environ.get("ARUS_BIN", str(ROOT / "target" / "debug" / "arus"))
        env = dict(os.environ, ARUS_API_TOKEN=TOKEN, ARUS_LOG=os.environ.get("ARUS_LOG", "warn"))
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--database", database, *extra_args],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.request("GET", "/healthz", auth=False)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("arus did not become ready")

    def request(self, method, path, body=None, auth=True):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if auth:
            req.add_header("Authorization", f"Bearer {TOKEN}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def post(self, path, body):
        status, answer = self.request("POST", path, body)
        assert status in (200, 201), (path, status, answer)
        return answer

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request):
    """A fresh database of each backend, as `--database` takes it."""
    if request.param == "sqlite":
        tmp = tempfile.TemporaryDirectory()
        yield f"sqlite://{tmp.name}/arus.db"
        tmp.cleanup()
    else:
        yield postgres_database()


@pytest.fixture
def server(request, database):
    """A server on a fresh database of each backend, started with the test module's
    `SERVER_ARGS` (none if it has none)."""
    s = Server(database, getattr(request.module, "SERVER_ARGS", ()))
    yield s
    s.stop()
