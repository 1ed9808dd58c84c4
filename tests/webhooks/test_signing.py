"""Webhook signatures against the Standard Webhooks specification's own test vector
and its reference library."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from imgsvc.webhooks.signing import new_secret, parse_secret, signature, signed_headers

# The specification's published vector (its Python library's test_sign_function).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_MESSAGE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specifications_test_vector():
    key = parse_secret(SPEC_SECRET)
    assert signature(key, SPEC_MESSAGE_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_secret_is_taken_with_or_without_its_prefix():
    assert parse_secret(SPEC_SECRET) == parse_secret(SPEC_SECRET.removeprefix("whsec_"))
    assert parse_secret(SPEC_SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


def test_the_reference_library_verifies_our_headers():
    secret = new_secret()
    body = b'{"type":"image.done","data":{"id":"x"}}'
    headers = signed_headers(parse_secret(secret), "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers) == {"type": "image.done", "data": {"id": "x"}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"x", b"y"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


@pytest.mark.parametrize("bad", ["whsec_", "whsec_not base64!", "whsec_c2hvcnQ="])
def test_a_malformed_or_short_secret_is_refused(bad):
    with pytest.raises(ValueError):
        parse_secret(bad)
