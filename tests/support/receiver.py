"""A webhook receiver on loopback: records every POST, answers as the test scripts it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records each POST on ``127.0.0.1:<port>``; answers the statuses of ``script``
    in turn, then ``200``. While ``hold`` is clear, answers wait for it (a slow
    receiver). :meth:`stop` and :meth:`start` take it down and bring it back on
    the same port (a receiver that is down for a while)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Condition()
        self.port = 0
        self.httpd: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver.arrived:
                    receiver.received.append(Received(self.path, headers, body))
                    status = receiver.script.pop(0) if receiver.script else 200
                    receiver.arrived.notify_all()
                receiver.hold.wait(60)  # the test's gate, not synchronisation
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting, as a timed-out sender should

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the listening socket: connections are refused until :meth:`start`."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def allow_entry(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def verified(self, secret: str) -> list[dict]:
        """Every request received, verified with the Standard Webhooks reference
        library (``standardwebhooks``); raises its error for a bad signature."""
        hook = Webhook(secret)
        return [hook.verify(each.body, each.headers) for each in list(self.received)]
