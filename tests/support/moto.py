"""moto's S3 server on loopback: the one launcher of the tests and benchmarks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.ports import free_port
from tests.support.wait import wait_until_answers


class MotoServer:
    """moto in server mode on a free loopback port, with ``bucket`` created.

    In a thread of this process by default (the test suite); with ``log``, in a
    process of its own writing there (a benchmark: in this process it would
    share the measuring client's GIL). The caller provides AWS credentials in
    the environment (any values)."""

    def __init__(self, bucket: str, log: Path | None = None) -> None:
        self.bucket = bucket
        self.log = log
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread_server = None
        self._proc: subprocess.Popen | None = None

    def start(self) -> MotoServer:
        import boto3

        if self.log is None:
            from moto.server import ThreadedMotoServer

            self._thread_server = ThreadedMotoServer(
                ip_address="127.0.0.1", port=self.port, verbose=False
            )
            self._thread_server.start()
        else:
            with open(self.log, "w") as out:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    process_group=0,
                )
            wait_until_answers(self.endpoint, self._proc, 30, "moto's server")
        boto3.client("s3", endpoint_url=self.endpoint).create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        if self._thread_server is not None:
            self._thread_server.stop()
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(30)
