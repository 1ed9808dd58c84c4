"""Hosts on a private virtual network: Linux network namespaces made for one run.

:class:`VirtualNetwork` creates a "switch" namespace holding a bridge, and one
namespace per host, each joined to the bridge by a veth pair and given one
address of ``198.18.0.0/24`` (a benchmarking range, RFC 2544, that exists only
inside these namespaces). No host has a default route, and the root namespace
is not on the network, so nothing can leave it. :meth:`VirtualNetwork.close`
kills every process started in a host, then deletes the namespaces (which
deletes their interfaces); it runs also after a failure when used as a
context manager. Needs root (``ip netns``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from typing import IO, Any

SUBNET = "198.18.0"
PREFIX_LENGTH = 24
# Subprocesses that talk to the virtual hosts: the test jail lets this range through.
JAIL_ALLOW = {"TESTS_NETJAIL_ALLOW": f"{SUBNET}.0/{PREFIX_LENGTH}"}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def available() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    return None


class Host:
    """One namespace with one address; :meth:`spawn` runs a process inside it."""

    def __init__(self, network: VirtualNetwork, name: str, address: str) -> None:
        self.network, self.name, self.address = network, name, address
        self.namespace = f"{network.tag}-{name}"
        self.processes: list[subprocess.Popen] = []

    def spawn(
        self, command: list[str], *, env: dict[str, str], log: Path, cwd: Path | None = None
    ) -> subprocess.Popen:
        """Start ``command`` in this host (its own process group); output to ``log``."""
        out: IO[Any] = open(log, "w")  # noqa: SIM115  (closed by the network)
        self.network.logs.append(out)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, *command],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        self.processes.append(proc)
        return proc

    def run(
        self, command: list[str], *, env: dict[str, str], timeout: float, cwd: Path | None = None
    ):
        """Run ``command`` in this host to its end; the CompletedProcess."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, *command],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


class VirtualNetwork:
    """A bridge and one namespace per host on ``198.18.0.0/24`` (see the module docstring)."""

    def __init__(self) -> None:
        # Runs at the same time (another engineer's, a CI job) never share a name: the
        # tag is random, and a name already taken fails `ip netns add` or `ip link add`
        # before this run owns it, so close() never deletes another run's namespace.
        self.tag = f"imgsvc-{secrets.token_hex(4)}"
        self.short = self.tag[-8:]  # interface names are at most 15 bytes: h + 8 + index
        self.switch = f"{self.tag}-switch"
        self.hosts: list[Host] = []
        self.logs: list[IO[Any]] = []
        self._namespaces: list[str] = []

    def __enter__(self) -> VirtualNetwork:
        try:
            self._add_namespace(self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def host(self, name: str) -> Host:
        """A new host on the network, with the next address."""
        address = f"{SUBNET}.{len(self.hosts) + 1}"
        host = Host(self, name, address)
        self._add_namespace(host.namespace)
        inside, outside = f"h{self.short}{len(self.hosts)}", f"s{self.short}{len(self.hosts)}"
        _ip("link", "add", inside, "type", "veth", "peer", "name", outside)
        _ip("link", "set", inside, "netns", host.namespace)
        _ip("link", "set", outside, "netns", self.switch)
        _ip("-n", self.switch, "link", "set", outside, "master", "br0", "up")
        _ip("-n", host.namespace, "addr", "add", f"{address}/{PREFIX_LENGTH}", "dev", inside)
        _ip("-n", host.namespace, "link", "set", inside, "up")
        self.hosts.append(host)
        return host

    def cut(self, host: Host) -> None:
        """Take ``host``'s link down: its connections hang, as when a cable is pulled."""
        inside = f"h{self.short}{self.hosts.index(host)}"
        _ip("-n", host.namespace, "link", "set", inside, "down")

    def close(self) -> None:
        """Kill every process of every host, then delete the namespaces."""
        for host in self.hosts:
            for proc in host.processes:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        for name in self._namespaces:  # anything left inside (a forked child in its own group)
            listed = subprocess.run(
                ["ip", "netns", "pids", name], capture_output=True, text=True, timeout=30
            )
            for pid in listed.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for out in self.logs:
            out.close()
        for name in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self._namespaces.clear()
