"""A Redis Sentinel group on loopback: a master, a replica and three sentinels.

Each is a real ``redis-server`` process (the sentinels run ``redis-server
<conf> --sentinel``), on free loopback ports, configured for fast failover:
a master that does not answer for ``down_after_ms`` is voted down by two
sentinels (the quorum) and the replica promoted. ``url`` is the
``redis+sentinel://`` URL imgsvc reads.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from redis import Redis

from tests.support.ports import free_port
from tests.support.redis import RedisServer
from tests.support.wait import wait_for

SERVICE = "mymaster"


class SentinelGroup:
    """Master + replica + three sentinels under ``folder``; :meth:`start`, :meth:`stop`."""

    def __init__(self, folder: Path, *, down_after_ms: int = 1000) -> None:
        self.folder = Path(folder)
        self.down_after_ms = down_after_ms
        self.master = RedisServer(self.folder / "master")
        self.replica = RedisServer(
            self.folder / "replica",
            args=["--replicaof", "127.0.0.1", str(self.master.port)],
        )
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen] = []
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        self.url = f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self, timeout: float = 30) -> SentinelGroup:
        """Start all five; return once the replica is in sync and every sentinel
        knows the master, the replica and the two other sentinels."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make system installs it)")
        try:
            self.master.start()
            self.replica.start()
            for index, port in enumerate(self.sentinel_ports):
                self.sentinels.append(self._start_sentinel(binary, index, port))
            wait_for(self._ready, timeout, "the Sentinel group did not settle")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_sentinel(self, binary: str, index: int, port: int) -> subprocess.Popen:
        folder = self.folder / f"sentinel-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "sentinel.conf"  # a sentinel rewrites its file: one each
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        return subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL)

    def _ready(self) -> bool:
        for proc in self.sentinels:
            if proc.poll() is not None:
                raise RuntimeError("a sentinel exited at start")
        try:
            if Redis(port=self.master.port).info("replication").get("connected_slaves") != 1:
                return False
            states = [self.sentinel(port).sentinel_master(SERVICE) for port in self.sentinel_ports]
        except Exception:  # ConnectionError until each listens and has met the master
            return False
        return all(s["num-slaves"] == 1 and s["num-other-sentinels"] == 2 for s in states)

    def sentinel(self, port: int) -> Redis:
        """A client of the sentinel on ``port``."""
        return Redis(port=port, socket_timeout=2, decode_responses=True)

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            try:
                address: Any = self.sentinel(port).sentinel_get_master_addr_by_name(SERVICE)
            except Exception:
                continue
            if address:
                return int(address[1])
        return None

    def stop(self) -> None:
        """Stop the sentinels first (no failover while the servers stop), then both servers."""
        for proc in self.sentinels:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.sentinels:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.replica.stop()
        self.master.stop()
