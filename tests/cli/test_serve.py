"""`saliency serve` (`make run`): private Redis, a worker and the API up; SIGINT takes all of them down;
the Redis data (append-only file) survives into the next start."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.stack import FAST, ROOT, free_port, submit_ok, wait_status, wait_until


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


def test_serve_runs_everything_and_stops_on_ctrl_c(tiny_models_file: Path, upload, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALIENCY_") and k != "REDIS_URL"}
    env.update({"SALIENCY_MODELS_FILE": str(tiny_models_file), "SALIENCY_PRELOAD": "tiny",
                "SALIENCY_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"})
    data_dir = tmp_path / "redis"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    job_id = None
    for run in (1, 2):
        log = tmp_path / f"serve-{run}.log"
        proc = _start(env, port, data_dir, log)
        try:
            def ready(proc: subprocess.Popen = proc, log: Path = log) -> bool:
                if proc.poll() is not None:
                    pytest.fail(f"serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
                try:
                    return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False
            wait_until(ready, 120, "the serve's API and worker", interval=0.2)
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
