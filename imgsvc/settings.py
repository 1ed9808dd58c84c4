"""Typed settings: a view of the settings mapping with one typed attribute per setting.

``Settings(mapping).JOB_TIMEOUT`` is an ``int``; each attribute's type is its
annotation in :class:`imgsvc.config.Defaults`. Every process checks the whole
mapping once at start (:func:`parse_settings`): the web app in ``create_app``;
``imgsvc worker``, ``reconcile``, ``stats``, ``front`` and ``dev`` before they
do anything (a plain ``rq worker`` at its first job), so a typo or a wrong type
stops it there, with the setting's name, rather than in the first request or job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, get_type_hints

from imgsvc.config import ENV_PREFIX, CommaList, Defaults, SettingsError, csv_list

__all__ = [
    "FIELDS",
    "Settings",
    "SettingsError",
    "parse_settings",
    "retry_intervals",
    "webhook_retry_delays",
]


def _setting_error(name: str, expected: str, value: object) -> SettingsError:
    return SettingsError(f"{ENV_PREFIX}{name}: expected {expected}, got {value!r}")


def _integer(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _setting_error(name, "an integer", value)


def _number(name: str, value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _setting_error(name, "a number", value)


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0", ""}


def _boolean(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _setting_error(name, "true or false", value)


def _text(name: str, value: object) -> str:
    # JSON turns IMGSVC_OPS_PASSWORD=123456 into a number; it is still the text typed.
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise _setting_error(name, "a string", value)


def _optional_text(name: str, value: object) -> str | None:
    return None if value is None else _text(name, value)


def _comma_list(name: str, value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_text(name, item) for item in value)
    return _text(name, value)


_PARSERS: dict[object, Callable[[str, object], Any]] = {
    int: _integer,
    float: _number,
    bool: _boolean,
    str: _text,
    str | None: _optional_text,
    CommaList: _comma_list,
}


def _parsers() -> dict[str, Callable[[str, object], Any]]:
    """Each setting's parser, chosen by its annotation in :class:`Defaults`."""
    found = {}
    for name, hint in get_type_hints(Defaults, include_extras=True).items():
        if name.isupper():
            if hint not in _PARSERS:
                raise TypeError(f"Defaults.{name}: no parser for the type {hint!r}")
            found[name] = _PARSERS[hint]
    return found


FIELDS = _parsers()


class _Setting:
    """One typed attribute of :class:`Settings`: the mapping's value, parsed on each read."""

    def __init__(self, name: str, parse: Callable[[str, object], Any]) -> None:
        self.name, self.parse = name, parse

    def __get__(self, view: Settings | None, owner: type | None = None) -> Any:
        if view is None:
            return self
        return self.parse(self.name, view.values.get(self.name, getattr(Defaults, self.name)))

    def __set__(self, view: Settings, value: object) -> None:
        # A value set on the view would hide later changes of the mapping.
        raise AttributeError(f"{self.name}: settings are read-only; change the mapping")


class Settings(Defaults):
    """A typed view of a settings mapping: one attribute per field of :class:`Defaults`.

    The view is live: each read parses the mapping's current value, so a change
    to ``app.config`` after start is seen (tests make such changes). A key the
    mapping lacks reads as its default. A read raises :class:`SettingsError`
    for a value of the wrong type; :func:`parse_settings` reads them all once,
    at start, so that never happens later.
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values.values if isinstance(values, Settings) else values

    def as_dict(self) -> dict[str, Any]:
        """Every setting's typed value, by name."""
        return {name: getattr(self, name) for name in FIELDS}


for _name, _parse in FIELDS.items():
    setattr(Settings, _name, _Setting(_name, _parse))


def parse_settings(values: Mapping[str, Any]) -> Settings:
    """Check every setting of ``values`` and return the typed view of it.

    Raises :class:`SettingsError` naming each setting whose value has the wrong
    type, or whose retry intervals are not whole seconds.
    """
    config = Settings(values)
    problems = []
    for name in FIELDS:
        try:
            getattr(config, name)
        except SettingsError as exc:
            problems.append(str(exc))
    if not problems:
        try:
            retry_intervals(config)
        except ValueError:
            problems.append(
                f"{ENV_PREFIX}JOB_RETRY_INTERVALS: expected whole seconds, comma-separated, "
                f"got {config.JOB_RETRY_INTERVALS!r}"
            )
    if not problems:
        problems += _webhook_problems(config)
    if problems:
        raise SettingsError("; ".join(problems))
    return config


def _webhook_problems(config: Settings) -> list[str]:
    """A secret that is not ``whsec_<base64>``, or a ``WEBHOOK_URL`` that cannot be used."""
    from imgsvc.errors import ImgsvcError
    from imgsvc.netguard import parse_url
    from imgsvc.webhooks.signing import parse_secret

    problems = []
    if config.WEBHOOK_SECRET is not None:
        try:
            parse_secret(config.WEBHOOK_SECRET)
        except ValueError as exc:
            problems.append(f"{ENV_PREFIX}WEBHOOK_SECRET: {exc}")
    if config.WEBHOOK_URL:
        if config.WEBHOOK_SECRET is None:
            problems.append(
                f"{ENV_PREFIX}WEBHOOK_URL needs {ENV_PREFIX}WEBHOOK_SECRET to sign with"
            )
        try:
            parse_url(config.WEBHOOK_URL)
        except ImgsvcError as exc:
            problems.append(f"{ENV_PREFIX}WEBHOOK_URL: {exc.message}")
    return problems


def retry_intervals(config: Settings) -> list[int]:
    """The backoff intervals (seconds) between job retries.

    Raises ``ValueError`` for an item that is not an integer (checked at start
    by :func:`parse_settings`).
    """
    return [int(item) for item in csv_list(config.JOB_RETRY_INTERVALS)] or [0]


def webhook_retry_delays(config: Settings) -> list[int]:
    """The delays (whole seconds) before each retry of a webhook delivery.

    ``WEBHOOK_BACKOFF``, doubling each time up to ``WEBHOOK_BACKOFF_MAX``, for
    ``WEBHOOK_MAX_ATTEMPTS - 1`` retries, but none that would start later than
    ``WEBHOOK_RETRY_WINDOW`` seconds after the first attempt.
    """
    delays: list[int] = []
    total = 0
    for retry in range(max(0, config.WEBHOOK_MAX_ATTEMPTS - 1)):
        delay = max(1, round(min(config.WEBHOOK_BACKOFF * 2**retry, config.WEBHOOK_BACKOFF_MAX)))
        if total + delay > config.WEBHOOK_RETRY_WINDOW:
            break
        total += delay
        delays.append(delay)
    return delays
