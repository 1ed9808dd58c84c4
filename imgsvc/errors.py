"""Named errors of imgsvc.

Every error a user or client can meet is one of these: it carries the stable
``code`` of the HTTP contract, the HTTP ``status`` it maps to and a human
``message``. Job functions raise them; the web layer renders them as
``{"error": {"code", "message"}}``. ``retryable`` marks transient faults that
RQ may retry with backoff; everything else is bad input and is never retried.
Every error class lives here; what a response adds (``retry_after``,
``headers``, ``details``) is declared on :class:`ImgsvcError`.
"""

from __future__ import annotations

from typing import Any


class ImgsvcError(Exception):
    """Base class: an error with a contract code, an HTTP status and a message."""

    code = "internal_error"
    status = 500
    retryable = False
    default_message = "Something went wrong."
    retry_after: int | None = None  # seconds: the response's Retry-After
    headers: dict[str, str] | None = None  # more headers of the response
    details: dict[str, Any] | None = None  # more keys of the JSON body (a partial success)

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def to_dict(self) -> dict[str, str]:
        """The ``{"code", "message"}`` object used in responses and manifests."""
        return {"code": self.code, "message": self.message}


class MissingFile(ImgsvcError):
    code, status = "missing_file", 400
    default_message = "No file was sent: use the multipart field 'file'."


class InvalidImage(ImgsvcError):
    code, status = "invalid_image", 400
    default_message = "The file is not a readable image."


class InvalidFocus(ImgsvcError):
    code, status = "invalid_focus", 400
    default_message = "focus must be x,y: two numbers from 0 to 1."


class AnimationTooLarge(ImgsvcError):
    """Not an answer: why an animation was made into still variants (the manifest's
    ``animation.reason``), with ``IMGSVC_ANIMATED`` on and the animation past its limits."""

    code, status = "animation_too_large", 400
    default_message = "The animation has too many frames or pixels to be kept."


class UnsupportedFormat(ImgsvcError):
    code, status = "unsupported_format", 415
    default_message = "This image format is not accepted."


class ImageTooLarge(ImgsvcError):
    code, status = "image_too_large", 400
    default_message = "The image has too many pixels or frames."


class DirectUploadUnavailable(ImgsvcError):
    """Uploads straight to storage (``/api/uploads``) need the S3 backend."""

    code, status = "direct_upload_unavailable", 400
    default_message = "Direct uploads need S3 storage; send the file to POST /api/images instead."


class UploadCompleted(ImgsvcError):
    """``POST /api/uploads/<id>/complete`` for an image that is already recorded."""

    code, status = "upload_completed", 409
    default_message = "This upload was already completed."


class ImageNotReady(ImgsvcError):
    """``PATCH /api/images/<id>`` for an image that is not ``done`` (queued,
    processing or failed): its variants are its upload job's to make."""

    code, status = "image_not_ready", 409
    default_message = "The image is not processed yet (or failed); it can be changed once done."


class FileTooLarge(ImgsvcError):
    code, status = "file_too_large", 413
    default_message = "The upload is larger than the byte limit."


class InvalidUrl(ImgsvcError):
    code, status = "invalid_url", 400
    default_message = "The URL must be an absolute http or https URL."


class DestinationNotAllowed(ImgsvcError):
    code, status = "destination_not_allowed", 400
    default_message = "That address may not be fetched."


class NotFound(ImgsvcError):
    code, status = "not_found", 404
    default_message = "Not found."


class Unauthorized(ImgsvcError):
    """An operator page without the operator's credentials (``/ops``, ``/metrics``):
    the response challenges for basic auth."""

    code, status = "unauthorized", 401
    default_message = "This page is for operators: sign in with the operator password."
    headers = {"WWW-Authenticate": 'Basic realm="imgsvc operators", charset="UTF-8"'}


class Forbidden(ImgsvcError):
    code, status = "forbidden", 403
    default_message = "Forbidden."


class RateLimited(ImgsvcError):
    code, status = "rate_limited", 429
    default_message = "Too many requests; try again later."


class ApiKeyRequired(Unauthorized):
    """``IMGSVC_API_KEYS`` is set and an ``/api/*`` write came without a valid
    ``Authorization: Bearer <key>``."""

    default_message = "This request needs an API key: send 'Authorization: Bearer <key>'."
    headers = {"WWW-Authenticate": 'Bearer realm="imgsvc"'}


class QuotaExceeded(ImgsvcError):
    """The API key used up its daily upload quota; ``Retry-After`` is the next UTC midnight."""

    code, status = "quota_exceeded", 429
    default_message = "This API key has used up its uploads for today."


class FormUploadsDisabled(ImgsvcError):
    """``IMGSVC_FORM_UPLOADS`` is false: uploads go through the API with a key."""

    code, status = "form_uploads_disabled", 403
    default_message = "Uploads through the form are turned off here; use the API with a key."


class InvalidIdempotencyKey(ImgsvcError):
    code, status = "invalid_idempotency_key", 400
    default_message = "An Idempotency-Key is 1 to 255 printable ASCII characters."


class IdempotencyKeyReused(ImgsvcError):
    """The same ``Idempotency-Key`` came with another body within its time to live."""

    code, status = "idempotency_key_reused", 422
    default_message = "This Idempotency-Key was used with a different request; use a new key."


class IdempotencyKeyInUse(ImgsvcError):
    """The first request with this ``Idempotency-Key`` is still running: retry (safely)."""

    code, status, retryable = "idempotency_key_in_use", 409, True
    default_message = "A request with this Idempotency-Key is still running; retry shortly."
    retry_after = 1


class RequestTimeout(ImgsvcError):
    """The request took longer than ``UPLOAD_DEADLINE`` to arrive: nothing was stored."""

    code, status = "request_timeout", 408
    default_message = "The upload took too long to arrive; try again on a faster connection."
    headers = {"Connection": "close"}


class TooManyConnections(ImgsvcError):
    """The front refused a request: this address has too many in progress."""

    code, status = "too_many_connections", 429
    default_message = "Too many requests from this address are in progress; try again shortly."
    retry_after = 5


class QueueUnavailable(ImgsvcError):
    code, status, retryable = "queue_unavailable", 503, True
    default_message = "The job queue is unavailable; try again shortly."


class QueueFull(QueueUnavailable):
    """``MAX_QUEUED_JOBS`` jobs already wait: nothing was stored or enqueued."""

    default_message = "The job queue is full; try again in a minute."
    retry_after = 30


class StorageUnavailable(ImgsvcError):
    code, status, retryable = "storage_unavailable", 503, True
    default_message = "Storage is unavailable; try again shortly."


class JobTimeout(ImgsvcError):
    """The job ran out of its time budget (RQ's job timeout fired, or the worker
    killed a work-horse that ignored it). Never retried: an input that took too
    long once takes as long again, and retries would hold a worker for
    ``JOB_RETRIES`` more budgets."""

    code, status = "timeout", 500
    default_message = "The job ran past its time limit."


class ImageDeleted(NotFound):
    """``DELETE`` ran while a job worked on the image: the job stops writing and
    removes what it wrote (see :mod:`imgsvc.images.tasks`)."""

    default_message = "No such image."


class VariantPending(NotFound):
    """A configured variant that a finished image lacks (or has under an older
    spec) is being made on demand; ask again after ``Retry-After``."""

    code = "variant_pending"
    default_message = "This variant is being made; try again shortly."
    retry_after = 2


class VariantFailed(NotFound):
    """The job that was to make this variant failed; ``details`` holds its error
    as ``{"cause": {"code", "message"}}``. No ``Retry-After``: asking again
    will not help until an operator retries (or the failed job expires)."""

    code = "variant_failed"
    default_message = "This variant could not be made."

    @classmethod
    def of(cls, cause: dict[str, Any]) -> VariantFailed:
        """The failure of a variants job whose error was ``cause``."""
        error = cls(f"This variant could not be made: {cause.get('message', 'the job failed')}")
        error.details = {"cause": cause}
        return error


class WorkerCrashed(ImgsvcError):
    """The work-horse process died mid-job (a signal such as the OOM killer's)."""

    code, status, retryable = "worker_crashed", 500, True
    default_message = "The worker process died while running this job."


class ObjectNotFound(NotFound):
    """A storage key that does not exist (the storage backends' domain error)."""

    default_message = "No such object in storage."


class InvalidKey(ImgsvcError):
    """A storage key that is malformed or would escape the storage root."""

    code, status = "not_found", 404
    default_message = "Invalid storage key."


class FetchFailed(ImgsvcError):
    """The page could not be fetched: no such name, refused connection, 4xx/5xx."""

    code, status = "fetch_failed", 502
    default_message = "The page could not be fetched."

    def __init__(self, message: str | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class FetchTooLarge(ImgsvcError):
    code, status = "fetch_too_large", 502
    default_message = "The page is larger than the fetch limit."


class FetchTimeout(ImgsvcError):
    code, status = "fetch_timeout", 504
    default_message = "The page took longer than the fetch time limit."


class WordCountTimeout(JobTimeout):
    """A word count ran past ``WORDCOUNT_TIMEOUT`` (fetch, decode, parse and count).

    Never retried: the same page would cost as much again.
    """

    retryable = False
    default_message = "The word count ran past its time budget."


class UnsupportedContentType(ImgsvcError):
    code, status = "unsupported_content_type", 502
    default_message = "Only HTML and plain-text pages can be counted."


class WebhooksNotConfigured(ImgsvcError):
    """A ``callback_url`` sent to a service without ``WEBHOOK_SECRET``: nothing
    could be signed, so nothing is accepted."""

    code, status = "webhooks_not_configured", 400
    default_message = "This service sends no webhooks (IMGSVC_WEBHOOK_SECRET is not set)."


class WebhookFailed(ImgsvcError):
    """A webhook delivery attempt failed: the receiver answered other than 2xx, or
    the connection failed. Retried (with backoff) only for transient faults:
    connection errors, 5xx, 408 and 429."""

    code, status = "webhook_failed", 502
    default_message = "The receiver did not accept the webhook."

    def __init__(self, message: str | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class WebhookTimeout(ImgsvcError):
    """A webhook delivery attempt took longer than ``WEBHOOK_TIMEOUT``; retried."""

    code, status, retryable = "webhook_timeout", 504, True
    default_message = "The receiver took longer than the webhook time limit."
