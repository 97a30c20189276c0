"""`saliency serve` (`make run`): private Redis, a worker and the API up; SIGINT takes all of them down;
the Redis data (append-only file) survives into the next start; a worker killed mid-job (as the
out-of-memory killer does) is restarted while the API keeps answering, and its job ends."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.stack import FAST, PLUGINS, ROOT, Gate, free_port, submit_ok, wait_status, wait_until


def _start(env: dict[str, str], port: int, data_dir: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        # A session of its own, as a terminal would run it; SIGINT then goes to the supervisor only.
        return subprocess.Popen([sys.executable, "-m", "saliency_cli", "serve", "--port", str(port),
                                 "--data-dir", str(data_dir)], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def _child_pids(log: Path) -> dict[str, int]:
    return {name: int(pid) for name, pid in re.findall(r"started (\S+) \(pid (\d+)\)", log.read_text())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _interrupt(proc: subprocess.Popen, log: Path) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"serve did not stop on SIGINT:\n{log.read_text()[-3000:]}")
    assert code == 0, log.read_text()[-3000:]


def _env(tiny_models_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALIENCY_") and k != "REDIS_URL"}
    env.update({"SALIENCY_MODELS_FILE": str(tiny_models_file), "SALIENCY_PRELOAD": "tiny",
                "SALIENCY_DEVICE": "cpu", "PYTHONUNBUFFERED": "1", **extra})
    return env


def _wait_ready(proc: subprocess.Popen, log: Path, base: str) -> None:
    """The API answers and a worker is registered (/readyz is 200 without one, too)."""
    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            r = httpx.get(f"{base}/readyz", timeout=2)
        except httpx.TransportError:
            return False
        return r.status_code == 200 and r.json()["workers"] >= 1
    wait_until(ready, 120, "the serve's API and worker", interval=0.2)


def test_serve_runs_everything_and_stops_on_ctrl_c(tiny_models_file: Path, upload, tmp_path: Path) -> None:
    env = _env(tiny_models_file)
    data_dir = tmp_path / "redis"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    job_id = None
    for run in (1, 2):
        log = tmp_path / f"serve-{run}.log"
        proc = _start(env, port, data_dir, log)
        try:
            _wait_ready(proc, log, base)
            with httpx.Client(base_url=base, timeout=30) as client:
                if run == 1:
                    job_id = submit_ok(client, upload.png, model="tiny", params=FAST)
                    assert wait_status(client, job_id, "finished", "failed")["status"] == "finished"
                else:  # the previous run's job and results came back from the append-only file
                    again = client.get(f"/jobs/{job_id}")
                    assert again.status_code == 200 and again.json()["status"] == "finished"
                    assert client.get(f"/jobs/{job_id}/overlay.png").status_code == 200
        finally:
            pids = _child_pids(log)
            _interrupt(proc, log)
        assert set(pids) == {"redis", "worker-1", "api"}
        assert not [name for name, pid in pids.items() if _alive(pid)], log.read_text()[-3000:]
        assert (data_dir / "appendonly.aof").exists() or (data_dir / "appendonlydir").is_dir()


def test_a_killed_worker_is_restarted_and_the_api_answers_throughout(tiny_models_file: Path, upload,
                                                                    tmp_path: Path, gate: Gate) -> None:
    """SIGKILL, as the kernel's out-of-memory killer sends it, to the worker mid-job: the supervisor
    says so and starts it again, the API never stops answering, and the job goes through the
    lost-job policy (queued again once) to a final state."""
    env = _env(tiny_models_file, SALIENCY_PLUGINS=PLUGINS, SALIENCY_JOB_LEASE="5", SALIENCY_JANITOR_INTERVAL="0.5",
               SALIENCY_LOST_JOB_RETRIES="1")
    port, log = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    proc = _start(env, port, tmp_path / "redis", log)
    answers: list[int | str] = []
    polling = threading.Event()

    def poll_api() -> None:  # every 0.1 s, on its own connection, while the worker dies and restarts
        with httpx.Client(base_url=base, timeout=5) as http:
            while not polling.wait(0.1):
                try:
                    answers.append(http.get("/healthz").status_code)
                except httpx.ConnectError as exc:  # refused: the API was down
                    answers.append(repr(exc))
                except httpx.TimeoutException:  # slow, on a busy machine, is not down
                    pass
    poller = threading.Thread(target=poll_api, daemon=True)
    try:
        _wait_ready(proc, log, base)
        with httpx.Client(base_url=base, timeout=30) as client:
            release = gate.params()
            job_id = submit_ok(client, upload.png, model="tiny", method="gate", params=release)
            wait_status(client, job_id, "started")
            first = _child_pids(log)["worker-1"]
            poller.start()
            os.kill(first, signal.SIGKILL)
            wait_until(lambda: _child_pids(log)["worker-1"] != first, 60, "the worker to be started again")
            assert "worker-1 was killed by SIGKILL" in log.read_text() and "restarting it in 1 s" in log.read_text()
            gate.release(release)
            done = wait_status(client, job_id, "finished", "failed", timeout=120)
            assert done["status"] == "finished", done  # run again, once, by the restarted worker
            # The killed worker's registration may outlive it until RQ's clean-up; the new one is there.
            assert done["audit"]["worker"] and client.get("/readyz").json()["workers"] >= 1
        polling.set()
        poller.join(10)
        assert answers and set(answers) == {200}, answers
        assert proc.poll() is None, log.read_text()[-3000:]  # the supervisor never stopped
    finally:
        polling.set()
        _interrupt(proc, log)
