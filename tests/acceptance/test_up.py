"""`aa up` as a user runs it: a part that dies is restarted while the service keeps answering,
Ctrl-C stops everything (saying what it waits for), and a second terminal finds its database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.acceptance.conftest import free_port

pytestmark = pytest.mark.slow

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: nap, backend: local, executable: "sleep $P1", stdout_glob: ".out",
     parameters: [{name: seconds, switchless: true, type: float, default: 0}]}
jobs:
  - {name: nap, inputs: [], steps: [{task: nap}]}
"""


class Up:
    """A running `aa up` with its output in a file."""

    def __init__(self, database_url: str, tmp_path: Path, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "up.log"
        config = tmp_path / "nap.yaml"
        config.write_text(CONFIG)
        self.env = {**os.environ, "DATABASE_URL": database_url, "XDG_STATE_HOME": str(tmp_path / "state"),
                    "AA_HEARTBEAT_SECONDS": "0.5", "AA_POLL_SECONDS": "0.5"}
        argv = [sys.executable, "-m", "app", "up", "--port", str(self.port), "--config", str(config), *args]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, predicate, what: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            assert self.process.poll() is None or what == "exit", f"aa up exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.output()}"
            time.sleep(0.1)
        return value

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.base}/api/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def children(self, marker: str) -> list[int]:
        """Pids of the direct children whose command line contains `marker`."""
        pids = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                try:
                    if marker in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                        pids.append(int(pid))
                except FileNotFoundError:
                    pass
        return pids

    def submit(self, seconds: float) -> str:
        response = requests.post(f"{self.base}/api/submissions", json={"job": "nap", "params": {"nap_seconds": seconds}},
                                 timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def state(self, submission_id: str) -> str:
        return requests.get(f"{self.base}/api/submissions/{submission_id}", timeout=30).json()["state"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def up(database_url, sessions, tmp_path):
    started: list[Up] = []

    def start(*args: str) -> Up:
        service = Up(database_url, tmp_path, *args)
        started.append(service)
        service.wait_for(service.healthy, "the service to answer")
        return service

    yield start
    for service in started:
        service.stop()


def test_a_killed_worker_is_replaced_and_the_service_keeps_answering(up):
    service = up("--workers", "2", "--concurrency", "1")
    workers = service.wait_for(lambda: len(service.children("app worker")) == 2 and service.children("app worker"),
                               "two workers")
    os.kill(workers[0], signal.SIGKILL)
    assert service.healthy()
    service.wait_for(lambda: "killed by SIGKILL; restarting it" in service.output(), "the restart log line")
    replaced = service.wait_for(lambda: len(set(service.children("app worker")) - {workers[0]}) == 2,
                                "a replacement worker")
    assert replaced and workers[0] not in service.children("app worker")
    submission = service.submit(0)
    service.wait_for(lambda: service.state(submission) == "Complete", "the submission to complete")


def test_a_killed_web_server_is_restarted(up):
    service = up("--workers", "1")
    (web,) = service.wait_for(lambda: service.children("app.webserver"), "the web server")
    os.kill(web, signal.SIGKILL)
    service.wait_for(lambda: "web server" in service.output() and "restarting it" in service.output(),
                     "the restart log line")
    service.wait_for(service.healthy, "the restarted web server to answer")
    assert web not in service.children("app.webserver")


def test_ctrl_c_waits_for_running_steps_then_stops(up):
    service = up("--workers", "1", "--concurrency", "1", "--grace", "60")
    submission = service.submit(3)
    service.wait_for(lambda: service.state(submission) == "Running", "the step to run")
    parts = service.children("app worker") + service.children("app.webserver")
    service.process.send_signal(signal.SIGINT)
    assert service.process.wait(60) == 0
    output = service.output()
    assert "waiting for 1 running step to finish" in output
    assert output.rstrip().endswith("stopped")
    assert not [pid for pid in parts if Path(f"/proc/{pid}").exists()], "a part outlived aa up"


def test_a_second_ctrl_c_forces_the_stop(up):
    service = up("--workers", "1", "--concurrency", "1", "--grace", "120")
    submission = service.submit(60)
    service.wait_for(lambda: service.state(submission) == "Running", "the step to run")
    started = time.monotonic()
    service.process.send_signal(signal.SIGINT)
    service.wait_for(lambda: "waiting for 1 running step" in service.output(), "the stopping message")
    service.process.send_signal(signal.SIGINT)
    assert service.process.wait(30) == 0
    assert time.monotonic() - started < 60, "the stop was not forced"
    assert "forcing the stop" in service.output()


def test_a_second_terminal_uses_the_running_services_database(up, tmp_path):
    service = up("--workers", "0")
    env = {k: v for k, v in service.env.items() if k not in ("DATABASE_URL", "AA_DATA_DIR")}
    dump = subprocess.run([sys.executable, "-m", "app", "config", "dump"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert dump.returncode == 0, dump.stderr
    assert "name: nap" in dump.stdout


def test_without_a_service_an_admin_command_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), AA_DATA_DIR=str(tmp_path / "data"))
    config = tmp_path / "nap.yaml"
    config.write_text(CONFIG)
    result = subprocess.run([sys.executable, "-m", "app", "config", "load", str(config)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: no database: no `aa up` is running")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "pgdata").exists(), "a new embedded database was made"


def test_an_unreachable_database_is_one_line(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"}
    result = subprocess.run([sys.executable, "-m", "app", "config", "dump"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot reach the database")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_port_in_use_is_one_line(up):
    service = up("--workers", "0")
    result = subprocess.run([sys.executable, "-m", "app", "up", "--port", str(service.port)], env=service.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{service.port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_parts_stop_when_aa_up_itself_is_killed(up):
    service = up("--workers", "1")
    parts = service.wait_for(lambda: service.children("app worker") and
                             service.children("app worker") + service.children("app.webserver"), "the parts")
    service.process.kill()
    service.process.wait()
    deadline = time.monotonic() + 60
    while [pid for pid in parts if _alive(pid)]:
        assert time.monotonic() < deadline, "a part outlived a killed aa up"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
