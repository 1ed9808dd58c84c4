"""The in-memory multipart parser gives what Werkzeug's parser gives, or defers to it."""

from __future__ import annotations

import io
import random

import pytest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser

from imgsvc.web.body.multipart import Unparsed, parse_form_data, read_body
from tests import factories

BOUNDARY = b"----imgsvc-test-boundary-7MA4YWxkTrZu0gW"
DISPOSITION_A = b'Content-Disposition: form-data; name="a"'


def body_of(
    parts: list[tuple[bytes, bytes]], preamble: bytes = b"", epilogue: bytes = b""
) -> bytes:
    """A multipart body from (headers, data) pairs."""
    out = [preamble]
    for headers, data in parts:
        out += [b"--", BOUNDARY, b"\r\n", headers, b"\r\n\r\n", data, b"\r\n"]
    out += [b"--", BOUNDARY, b"--\r\n", epilogue]
    return b"".join(out)


def field(name: str, value: bytes) -> tuple[bytes, bytes]:
    return (f'Content-Disposition: form-data; name="{name}"'.encode(), value)


def file_part(name: str, filename: str, data: bytes, ctype: str = "image/jpeg"):
    headers = (
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {ctype}"
    ).encode()
    return (headers, data)


def werkzeug_parse(body: bytes):
    parser = MultiPartParser(stream_factory=lambda *a, **k: io.BytesIO())
    return parser.parse(io.BytesIO(body), BOUNDARY, len(body))


def as_plain(form, files) -> tuple[list, list]:
    plain_files = [
        (name, f.filename, f.content_type, f.stream.read()) for name, f in files.items(multi=True)
    ]
    return list(form.items(multi=True)), plain_files


def awkward_bytes(rng: random.Random, size: int) -> bytes:
    """Random bytes salted with CRLFs, dashes and pieces of the boundary."""
    pieces = [b"\r\n", b"--", b"\r\n--", BOUNDARY[:-1], b"\r\n--" + BOUNDARY[:10], b"\r\n\r\n"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(pieces) if rng.random() < 0.2 else rng.randbytes(rng.randint(1, 64))
        if b"--" + BOUNDARY in out:  # a client never sends its own delimiter in a part
            out = out[: out.find(b"--" + BOUNDARY)]
    return bytes(out[:size])


@pytest.mark.parametrize("seed", range(40))
def test_random_bodies_parse_exactly_as_werkzeug_parses_them(seed):
    rng = random.Random(seed)
    parts = []
    for index in range(rng.randint(1, 5)):
        data = awkward_bytes(rng, rng.choice([0, 1, 7, 300, 70_000]))
        if rng.random() < 0.5:
            parts.append(file_part(f"f{index}", f"name {index}.jpg", data))
        else:
            parts.append(field(f"field{index}", data))
    body = body_of(parts, preamble=rng.choice([b"", b"ignored preamble\r\n"]))

    assert as_plain(*parse_form_data(body, BOUNDARY)) == as_plain(*werkzeug_parse(body))


def test_an_upload_keeps_its_bytes_name_and_type():
    photo = factories.jpeg(64, 48)
    body = body_of([field("csrf_token", "tök".encode()), file_part("file", "Ünï.jpg", photo)])

    form, files = parse_form_data(body, BOUNDARY)

    assert form["csrf_token"] == "tök"
    assert files["file"].filename == "Ünï.jpg"
    assert files["file"].content_type == "image/jpeg"
    assert files["file"].stream.read() == photo


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary here at all",
        body_of([field("a", b"1")])[:-20],  # cut off before the closing boundary
        body_of([(b'Content-Disposition: form-data; name="a"\r\n folded', b"1")]),
        body_of([(b"Content-Disposition: attachment", b"1")]),
        body_of([(DISPOSITION_A + b"\r\nContent-Transfer-Encoding: base64", b"MQ==")]),
    ],
    ids=["no-boundary", "truncated", "folded-header", "not-form-data", "transfer-encoding"],
)
def test_unexpected_shapes_are_left_to_werkzeug(body):
    with pytest.raises(Unparsed):
        parse_form_data(body, BOUNDARY)


def test_too_many_parts_is_413():
    body = body_of([field(f"f{i}", b"x") for i in range(11)])
    parse_form_data(body, BOUNDARY, max_form_parts=11)
    with pytest.raises(RequestEntityTooLarge):
        parse_form_data(body, BOUNDARY, max_form_parts=10)


def test_a_field_over_the_form_memory_limit_is_413_but_a_file_is_not():
    big = b"x" * 1000
    parse_form_data(body_of([file_part("file", "a.jpg", big)]), BOUNDARY, max_form_memory_size=500)
    with pytest.raises(RequestEntityTooLarge):
        parse_form_data(body_of([field("note", big)]), BOUNDARY, max_form_memory_size=500)


def test_read_body_reads_in_steps_and_stops_early_when_the_client_does():
    data = bytes(range(256)) * 10_000  # 2.5 MB: three 1 MiB steps
    assert read_body(io.BytesIO(data), len(data)) == data
    assert read_body(io.BytesIO(data[:100]), len(data)) == data[:100]


def _post_raw(client, body: bytes, **kwargs):
    return client.post(
        "/api/images",
        content_type=f"multipart/form-data; boundary={BOUNDARY.decode()}",
        **kwargs,
    )


def test_an_upload_of_unknown_length_is_streamed_by_werkzeug(app, client, monkeypatch):
    body = body_of([file_part("file", "photo.jpg", factories.jpeg(640, 480))])

    def unbounded(*args: object) -> bytes:
        raise AssertionError("a body of unknown length must not be read whole")

    monkeypatch.setattr("imgsvc.web.body.request.read_body", unbounded)

    response = _post_raw(
        client,
        body,
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked"},  # as a server passes a chunked body on
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert response.status_code == 202, response.get_json()


def test_an_upload_the_fast_parser_defers_is_parsed_by_werkzeug(app, client):
    photo = factories.jpeg(640, 480)
    headers = b'Content-Disposition: form-data; name="file";\r\n filename="photo.jpg"'
    body = body_of([(headers, photo)])
    with pytest.raises(Unparsed):
        parse_form_data(body, BOUNDARY)

    response = _post_raw(client, body, data=body)

    assert response.status_code == 202, response.get_json()
    stored = app.extensions["imgsvc"].storage.get(f"images/{response.get_json()['id']}/original")
    assert stored == photo
