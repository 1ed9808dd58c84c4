"""The webhook settings: the retry schedule's bounds, and bad values stopping the start."""

from __future__ import annotations

import pytest

from imgsvc.config import Defaults, load_settings
from imgsvc.settings import Settings, SettingsError, parse_settings, webhook_retry_delays


def delays(**values: object) -> list[int]:
    return webhook_retry_delays(Settings(values))


def test_the_backoff_doubles_up_to_its_cap_for_the_attempts_allowed():
    assert delays(WEBHOOK_BACKOFF=5, WEBHOOK_BACKOFF_MAX=60, WEBHOOK_MAX_ATTEMPTS=7) == [
        5,
        10,
        20,
        40,
        60,
        60,
    ]
    assert delays(WEBHOOK_MAX_ATTEMPTS=1) == []  # one attempt, no retry


def test_no_retry_starts_after_the_window():
    schedule = delays(
        WEBHOOK_BACKOFF=5,
        WEBHOOK_BACKOFF_MAX=3600,
        WEBHOOK_MAX_ATTEMPTS=50,
        WEBHOOK_RETRY_WINDOW=1000,
    )
    assert schedule == [5, 10, 20, 40, 80, 160, 320]
    assert sum(schedule) <= 1000


def test_the_defaults_outlast_a_receiver_down_for_an_hour():
    schedule = webhook_retry_delays(Settings(vars(Defaults)))
    assert sum(schedule) > 3600
    assert sum(schedule) <= Defaults.WEBHOOK_RETRY_WINDOW


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"WEBHOOK_SECRET": "not base64!"}, "IMGSVC_WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "https://hooks.example.com/in"}, "IMGSVC_WEBHOOK_URL needs"),
        (
            {"WEBHOOK_URL": "ftp://hooks.example.com/", "WEBHOOK_SECRET": "whsec_" + "A" * 32},
            "IMGSVC_WEBHOOK_URL",
        ),
    ],
)
def test_bad_webhook_settings_stop_the_start_naming_the_setting(values, named):
    with pytest.raises(SettingsError, match=named):
        parse_settings(load_settings(values))
