"""A crowd of slow clients on loopback, for the front's tests and benchmark.

:class:`SlowCrowd` keeps a number of connections open against one server,
each doing one slow thing, from an asyncio loop in a thread of its own:

- ``headers``: sends a request line, then one header line every ``interval``
  seconds, never the blank line (slowloris);
- ``bodies``: sends an upload's headers (a large ``Content-Length``), then a
  few bytes of body every ``interval`` seconds;
- ``readers``: asks for ``reader_path`` with a small receive buffer, then
  reads a few bytes every ``interval`` seconds.

:meth:`SlowCrowd.start` returns once each connection is in its slow state
(headers or body started; a reader's answer started), so what follows
measures a steady crowd, not the requests of its arrival.

A connection the server closes is opened again, so the crowd keeps its size
until :meth:`stop`. Connections come from ``sources`` (addresses of
127.0.0.0/8, all of which are loopback on Linux) in turn, so a per-address
limit of the server sees several clients. Every loop here is bounded by
:meth:`stop`, which is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CrowdCounts:
    """What the crowd saw: connections opened, and closed by the server."""

    opened: Counter[str] = field(default_factory=Counter)
    closed_by_server: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    first_lines: Counter[str] = field(default_factory=Counter)


class SlowCrowd:
    """``headers`` + ``bodies`` + ``readers`` slow connections to ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        headers: int = 0,
        bodies: int = 0,
        readers: int = 0,
        reader_path: str = "/healthz",
        interval: float = 1.0,
        chunk: int = 4,
        body_length: int = 10 * 1024 * 1024,
        sources: int = 20,
    ) -> None:
        self.host, self.port = host, port
        self.plan = {"headers": headers, "bodies": bodies, "readers": readers}
        self.reader_path = reader_path
        self.interval, self.chunk = interval, chunk
        self.body_length = body_length
        self.sources = [f"127.0.1.{index + 1}" for index in range(max(1, sources))]
        self.counts = CrowdCounts()
        self.open_now = 0
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def start(self, timeout: float = 60) -> SlowCrowd:
        """Start the crowd; return once every connection has been opened once."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the slow crowd did not connect within {timeout} s")
        return self

    def stop(self, timeout: float = 30) -> None:
        """Close every connection and end the thread."""
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)

    def __enter__(self) -> SlowCrowd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        total = sum(self.plan.values())
        connected = asyncio.Semaphore(0)
        tasks = []
        index = 0
        for kind, count in self.plan.items():
            for _ in range(count):
                source = self.sources[index % len(self.sources)]
                tasks.append(asyncio.create_task(self._keep(kind, source, connected)))
                index += 1
        for _ in range(total):
            await connected.acquire()
        self._ready.set()
        await self._stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep(self, kind: str, source: str, connected: asyncio.Semaphore) -> None:
        first = True
        assert self._stopping is not None
        while not self._stopping.is_set():
            try:
                reader, writer = await self._connect(kind, source)
            except OSError:
                self.counts.refused[kind] += 1
                await asyncio.sleep(self.interval)
                continue
            self.counts.opened[kind] += 1
            self.open_now += 1

            def established() -> None:
                nonlocal first
                if first:
                    connected.release()
                    first = False

            try:
                await getattr(self, f"_{kind}")(reader, writer, established)
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                self.open_now -= 1
                writer.close()
            self.counts.closed_by_server[kind] += 1
            await asyncio.sleep(self.interval)  # as a client would, before it tries again

    async def _connect(
        self, kind: str, source: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if kind == "readers":  # a small window: the server's writes block at once
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind((source, 0))
        try:
            await asyncio.wait_for(self._loop.sock_connect(sock, (self.host, self.port)), 30)
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock, limit=self.chunk * 4)

    async def _idle_until_closed(self, reader: asyncio.StreamReader) -> bool:
        """Wait one interval; True when the server closed the connection meanwhile."""
        try:
            data = await asyncio.wait_for(reader.read(256), self.interval)
        except TimeoutError:
            return False
        if data:
            self.counts.first_lines[data.split(b"\r\n", 1)[0].decode("latin-1")] += 1
        return True

    async def _headers(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, established: Callable
    ) -> None:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {self.host}\r\n".encode())
        await writer.drain()
        established()
        number = 0
        while not await self._idle_until_closed(reader):
            number += 1
            writer.write(f"X-Slow-{number}: {'a' * self.chunk}\r\n".encode())
            await writer.drain()

    async def _bodies(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, established: Callable
    ) -> None:
        head = (
            f"POST /api/images HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: multipart/form-data; boundary=slowcrowd\r\n"
            f"Content-Length: {self.body_length}\r\n\r\n"
            '--slowcrowd\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        )
        writer.write(head.encode())
        await writer.drain()
        established()
        while not await self._idle_until_closed(reader):
            writer.write(b"\xab" * self.chunk)
            await writer.drain()

    async def _readers(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, established: Callable
    ) -> None:
        writer.write(f"GET {self.reader_path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        await writer.drain()
        while True:
            data = await reader.read(self.chunk)
            if not data:
                return
            established()  # the answer has started: the app's part of it is done
            await asyncio.sleep(self.interval)


def paced_upload(
    host: str, port: int, data: bytes, seconds: float, steps: int
) -> tuple[int, dict, float]:
    """POST ``data`` to ``/api/images`` in ``steps`` pieces spread over ``seconds``,
    as a client on a slow link sends it: (status, JSON answer, seconds taken)."""
    boundary = "paced-upload-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=max(120.0, seconds)) as sock:
        head = (
            f"POST /api/images HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode())
        piece = -(-len(body) // steps)
        for index in range(steps):
            sock.sendall(body[index * piece : (index + 1) * piece])
            if index < steps - 1:
                # The client's pace (the time its link needs), not a wait for the server.
                time.sleep(max(0.0, started + seconds * (index + 1) / steps - time.monotonic()))
        response = http.client.HTTPResponse(sock)
        response.begin()
        answer = json.loads(response.read() or b"{}")
    return response.status, answer, time.monotonic() - started


class CrowdProcess:
    """A :class:`SlowCrowd` in a process of its own, so that its work (a thousand
    connections' timers and writes) does not share a GIL with the client it is
    measured against. Stops when stopped, or when the parent goes away."""

    def __init__(self, host: str, port: int, **plan: int | str | float) -> None:
        self.args = [sys.executable, "-m", "tests.support.slow_clients", host, str(port)]
        for name, value in plan.items():
            self.args += [f"--{name.replace('_', '-')}", str(value)]
        self.proc: subprocess.Popen | None = None
        self.counts: dict = {}

    def __enter__(self) -> CrowdProcess:
        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            self.args, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()  # the crowd's own start is bounded (60 s)
        if not ready.startswith("ready"):
            self.proc.kill()
            raise RuntimeError(f"the slow crowd did not start: {ready!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        try:
            out, _ = self.proc.communicate(timeout=60)  # closes stdin: the crowd stops
            self.counts = json.loads(out.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Run a crowd until standard input closes; print its counts as JSON."""
    parser = argparse.ArgumentParser(description="A crowd of slow clients on loopback.")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    for name in ("headers", "bodies", "readers", "chunk", "sources"):
        parser.add_argument(f"--{name}", type=int, default=0 if name != "chunk" else 4)
    parser.add_argument("--reader-path", default="/healthz")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    crowd = SlowCrowd(
        args.host,
        args.port,
        headers=args.headers,
        bodies=args.bodies,
        readers=args.readers,
        reader_path=args.reader_path,
        interval=args.interval,
        chunk=args.chunk,
        sources=args.sources or 20,
    )
    with crowd:
        print("ready", flush=True)
        sys.stdin.read()
        open_at_end = crowd.open_now
    counts = {
        "open_at_end": open_at_end,
        "opened": dict(crowd.counts.opened),
        "closed_by_server": dict(crowd.counts.closed_by_server),
        "refused": dict(crowd.counts.refused),
    }
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
