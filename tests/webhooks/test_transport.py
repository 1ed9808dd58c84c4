"""One webhook POST through the fetcher's rules, against a loopback receiver."""

from __future__ import annotations

import pytest

from imgsvc.errors import DestinationNotAllowed, InvalidUrl, WebhookFailed, WebhookTimeout
from imgsvc.netguard import Guard
from imgsvc.webhooks.transport import post
from tests.support import ConnectionCounter
from tests.test_netguard import stub_resolver


def test_posts_the_body_and_headers_and_returns_the_answer(receiver):
    receiver.script = [503]
    guard = Guard([receiver.allow_entry])
    headers = {"webhook-id": "msg_1"}

    first = post(receiver.url("/in?k=1"), b'{"a":1}', headers, guard, timeout=5)
    second = post(receiver.url("/in?k=1"), b'{"a":1}', headers, guard, timeout=5)

    assert (first.status, first.ok, first.retryable) == (503, False, True)
    assert (second.status, second.ok) == (200, True)
    request = receiver.received[0]
    assert request.path == "/in?k=1"
    assert request.body == b'{"a":1}'
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_1"


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (410, False), (429, True)])
def test_client_errors_are_final_except_the_transient_ones(receiver, status, retryable):
    receiver.script = [status]
    answer = post(receiver.url(), b"{}", {}, Guard([receiver.allow_entry]), timeout=5)
    assert (answer.ok, answer.retryable) == (False, retryable)


def test_a_private_target_is_refused_without_a_connection(loopback_only):
    counter = ConnectionCounter()
    try:
        for url in (
            f"http://127.0.0.1:{counter.port}/",
            f"http://localhost:{counter.port}/",
            "http://169.254.169.254/latest/",
            "http://10.0.0.1/hook",
        ):
            with pytest.raises(DestinationNotAllowed):
                post(url, b"{}", {}, Guard(), timeout=5)
        # A name is checked at connect time, by the address it resolves to.
        private = stub_resolver(
            {"hooks.example": ["10.1.2.3"], "mixed.example": ["93.184.216.34", "192.168.0.9"]}
        )
        for url in ("http://hooks.example/", "https://mixed.example/"):
            with pytest.raises(DestinationNotAllowed):
                post(url, b"{}", {}, Guard(resolver=private), timeout=5)
        assert counter.count == 0
    finally:
        counter.close()
    assert loopback_only == []
    with pytest.raises(InvalidUrl):
        post("ftp://example.com/", b"{}", {}, Guard(), timeout=5)


def test_a_refused_connection_is_a_retryable_failure(receiver):
    entry = receiver.allow_entry
    url = receiver.url()
    receiver.stop()
    with pytest.raises(WebhookFailed) as caught:
        post(url, b"{}", {}, Guard([entry]), timeout=5)
    assert caught.value.retryable


def test_a_receiver_slower_than_the_timeout_is_a_webhook_timeout(receiver):
    receiver.hold.clear()
    with pytest.raises(WebhookTimeout) as caught:
        post(receiver.url(), b"{}", {}, Guard([receiver.allow_entry]), timeout=1)
    assert caught.value.retryable
    assert len(receiver.received) == 1
