"""A local HTTP server with the pages the word-counter tests need."""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.hostile_pages import costly_page, hostile_page

KNOWN_HTML = """<!doctype html><html><head><title>Title words are not counted</title>
<style>body { color: red; } .hidden-css-word {}</style>
<script>var scriptWord = "not counted";</script></head>
<body><h1>The Quick Brown Fox</h1>
<p>The fox jumps over the lazy dog. The dog sleeps; the fox doesn't!</p>
<p>Ça va? Déjà vu&mdash;déjà VU, naïve café.</p>
<noscript>noscript words hidden</noscript><!-- a comment word -->
<ul><li>one</li><li>two</li><li>two</li></ul></body></html>"""

# Worked out by hand from KNOWN_HTML's visible text.
KNOWN_TOP = [
    ["the", 5],
    ["fox", 3],
    ["dog", 2],
    ["déjà", 2],
    ["two", 2],
    ["vu", 2],
    ["brown", 1],
    ["café", 1],
    ["doesn't", 1],
    ["jumps", 1],
    ["lazy", 1],
    ["naïve", 1],
    ["one", 1],
    ["over", 1],
    ["quick", 1],
    ["sleeps", 1],
    ["va", 1],
    ["ça", 1],
]
KNOWN_TOTAL = sum(count for _word, count in KNOWN_TOP)

HEAD_UNCLOSED = (
    "<!doctype html><html><head><meta charset=utf-8><title>Not counted</title>"
    "<link rel=stylesheet href=a.css><h1>Counted heading</h1><p>and three more"
)


class PageServer:
    """Serves test pages on 127.0.0.1; counts hits per path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.bomb = gzip.compress(b" word" * (20 * 1024 * 1024), compresslevel=9)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                server.hits[parts.path] += 1
                route = getattr(server, "page_" + parts.path.strip("/").replace("-", "_"), None)
                if route is None:
                    return self.reply(404, "text/html", b"<p>not found</p>")
                route(self, parse_qs(parts.query))

            def reply(self, status: int, content_type: str, body: bytes, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.allow_entry = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # Routes: page_<path>(handler, query).
    def page_known(self, h, q) -> None:
        h.reply(200, "text/html; charset=utf-8", KNOWN_HTML.encode())

    def page_plain(self, h, q) -> None:
        h.reply(200, "text/plain; charset=utf-8", b"alpha beta beta <b>gamma</b>")

    def page_redirect(self, h, q) -> None:
        # Sent as UTF-8 bytes, as servers send a non-ASCII Location.
        h.reply(302, "text/html", b"", Location=q["to"][0].encode().decode("latin-1"))

    def page_loop(self, h, q) -> None:
        h.reply(302, "text/html", b"", Location="/loop")

    def page_png(self, h, q) -> None:
        h.reply(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)

    def page_photo(self, h, q) -> None:
        """A real JPEG (``?w=&h=``), for uploads from a URL."""
        from tests import factories

        width, height = int(q.get("w", ["320"])[0]), int(q.get("h", ["240"])[0])
        h.reply(200, "image/jpeg", factories.jpeg(width, height))

    def page_photo_huge_declared(self, h, q) -> None:
        """An image/jpeg that declares 50 MiB (and sends none of it)."""
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(50 * 1024 * 1024))
        h.end_headers()

    def page_photo_trickle(self, h, q) -> None:
        """An image/jpeg sent one byte a second (until the client gives up)."""
        trickle(h, "image/jpeg", b"\xff")

    def page_photo_as_text(self, h, q) -> None:
        """A real JPEG that says it is text."""
        from tests import factories

        h.reply(200, "text/plain", factories.jpeg(320, 240))

    def page_error(self, h, q) -> None:
        h.reply(500, "text/html", b"<p>boom</p>")

    def page_missing(self, h, q) -> None:
        h.reply(404, "text/html", b"<p>gone</p>")

    def page_gzip_bomb(self, h, q) -> None:
        h.reply(200, "text/html", self.bomb, Content_Encoding="gzip")

    def page_huge(self, h, q) -> None:
        """50 MiB without a Content-Length: only the streaming cap can stop it."""
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.end_headers()
        chunk = b"word " * 13_107
        try:
            for _ in range(50 * 1024 * 1024 // len(chunk) + 1):
                h.wfile.write(chunk)
        except OSError:
            pass  # the client hung up at its limit, as it should

    def page_huge_declared(self, h, q) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(50 * 1024 * 1024))
        h.end_headers()

    def page_hostile(self, h, q) -> None:
        """One of tests/hostile_pages.py's adversarial pages: ``?kind=``."""
        content_type, body, headers = hostile_page(q["kind"][0])
        h.reply(200, content_type, body, **headers)

    def page_costly(self, h, q) -> None:
        """tests/hostile_pages.py's costly page: cheap to fetch, dear to parse."""
        content_type, body, headers = costly_page()
        h.reply(200, content_type, body, **headers)

    def page_echo_host(self, h, q) -> None:
        """The Host header it was sent, as text."""
        h.reply(200, "text/plain", (h.headers.get("Host") or "").encode())

    def page_bad_chunks(self, h, q) -> None:
        """Chunked encoding whose second chunk size is not hexadecimal."""
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.write(b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n")

    def page_head_unclosed(self, h, q) -> None:
        """Minified HTML: a <head> that is never closed, then the body's text."""
        h.reply(200, "text/html", HEAD_UNCLOSED.encode())

    def page_trickle(self, h, q) -> None:
        """One byte a second, forever (until the client gives up)."""
        trickle(h, "text/plain", b"a")


def trickle(h, content_type: str, byte: bytes) -> None:
    """Declare 100,000 bytes and send ``byte`` once a second (until the client gives up)."""
    h.send_response(200)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", "100000")
    h.end_headers()
    try:
        for _ in range(100_000):
            h.wfile.write(byte)
            h.wfile.flush()
            time.sleep(1)  # the server's pace, not test synchronisation
    except OSError:
        pass
