"""The shared clients of one process: :class:`Services` and its accessor.

The web app keeps one :class:`Services` in ``app.extensions["imgsvc"]``
(:func:`services` returns it inside a request); a worker's jobs share
:func:`worker_services`, built from the environment; the CLI builds its own.
Its Redis connection, queues and storage are created on first use, so
building one never touches the network: a bad Redis URL or an unreachable
server fails at the first command, with one of :data:`REDIS_ERRORS`. Redis
clients come from :func:`imgsvc.redisconn.connect_redis` (a plain or a
Sentinel URL).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property, lru_cache
from typing import Any

from flask import current_app
from PIL import Image
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.serializers import JSONSerializer

from imgsvc.config import load_settings
from imgsvc.redisconn import connect_redis
from imgsvc.settings import Settings, parse_settings
from imgsvc.storage import Storage, storage_from_settings

# Any Redis failure (down, timeout, out of memory under noeviction) means "queue unavailable".
REDIS_ERRORS = (RedisError, OSError)


def text_of(raw: bytes | str) -> str:
    """A Redis answer as text: our clients answer bytes (no ``decode_responses``),
    which redis-py's types do not promise."""
    return raw.decode() if isinstance(raw, bytes) else raw


class Services:
    """The shared clients of one process, each created lazily.

    ``settings`` is the settings mapping (``app.config`` in the web app);
    ``config`` reads it typed (:class:`imgsvc.settings.Settings`).
    """

    def __init__(self, settings: Mapping[str, Any], redis_socket_timeout: float = 10) -> None:
        self.settings = settings
        self.config = Settings(settings)
        self.redis_socket_timeout = redis_socket_timeout

    @cached_property
    def redis(self) -> Redis:
        return connect_redis(self.config.REDIS_URL, self.redis_socket_timeout)

    @cached_property
    def queue(self) -> Queue:
        # JSON, not pickle: a job's arguments and results are plain data, and a
        # Redis writer must not be able to run code in the workers.
        return Queue(self.config.QUEUE_NAME, connection=self.redis, serializer=JSONSerializer)

    @cached_property
    def wordcount_queue(self) -> Queue:
        # Imported here: imgsvc.queue imports this module.
        from imgsvc.queue import wordcount_queue

        return wordcount_queue(self.queue)

    @cached_property
    def storage(self) -> Storage:
        return storage_from_settings(self.settings)


def services() -> Services:
    """The web app's shared clients (Redis, queue, storage).

    Only inside an app or request context: outside one, Flask raises
    ``RuntimeError``.
    """
    svc: Services = current_app.extensions["imgsvc"]
    return svc


@lru_cache(maxsize=1)
def worker_services() -> Services:
    """The job functions' settings and storage in a worker process (built on first use).

    Raises ``SettingsError`` for a setting of the wrong type: ``imgsvc worker``
    checked them at start, a plain ``rq worker`` does here, at its first job.
    """
    config = parse_settings(load_settings())
    Image.MAX_IMAGE_PIXELS = config.MAX_IMAGE_PIXELS
    return Services(config.values)
