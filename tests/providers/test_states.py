from __future__ import annotations

import pytest

from orchestrator.domain.values import Problem, TaskState, Tier, VideoParams
from orchestrator.providers.errors import ProviderResponseError
from orchestrator.providers.states import (
    NO_OUTPUT,
    URL_LIFETIME_S,
    choice_problems,
    choose_model,
    epoch_s,
    percent,
    pick_code,
    raw_status,
    read_video_object,
    state_for,
    task_status,
    url_list,
)


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("submitted", TaskState.QUEUED),
        ("pending", TaskState.QUEUED),
        ("queued", TaskState.QUEUED),
        ("processing", TaskState.RUNNING),
        ("in_progress", TaskState.RUNNING),
        ("IN_PROGRESS", TaskState.RUNNING),
        ("completed", TaskState.SUCCEEDED),
        ("success", TaskState.SUCCEEDED),
        ("succeeded", TaskState.SUCCEEDED),
        ("SUCCESS", TaskState.SUCCEEDED),
        ("failed", TaskState.FAILED),
        ("failure", TaskState.FAILED),
        ("cancelled", TaskState.CANCELLED),
        ("canceled", TaskState.CANCELLED),
        ("expired", TaskState.EXPIRED),
        (" Queued ", TaskState.QUEUED),
        ("done", TaskState.UNKNOWN),
        ("NOT_START", TaskState.UNKNOWN),
        ("", TaskState.UNKNOWN),
    ],
)
def test_state_table(raw: str, state: TaskState) -> None:
    """Each status word in docs/providers.md maps in any case; others are UNKNOWN, not FAILED."""
    assert state_for(raw) is state


@pytest.mark.parametrize(
    ("value", "millis", "expected"),
    [
        (1_704_067_200_000, True, 1_704_067_200.0),
        (1_704_067_200, False, 1_704_067_200.0),
        ("1704067200", False, 1_704_067_200.0),
        (0, False, None),
        (-3, False, None),
        (True, False, None),
        (10**400, False, None),
        (float("inf"), False, None),
        ("soon", False, None),
        (None, False, None),
    ],
)
def test_epoch_s_normalizes_units_and_placeholders(
    value: object, millis: bool, expected: float | None
) -> None:
    """Milliseconds become seconds, and 0, junk and non-finite values mean "not known"."""
    assert epoch_s(value, millis=millis) == expected


@pytest.mark.parametrize(("value", "expected"), [(50, 50), ("75", 75), (140, 100), (-1, 0)])
def test_percent_clamps(value: object, expected: int) -> None:
    """Progress is an int clamped to 0..100."""
    assert percent(value) == expected


def test_url_list_takes_a_string_or_a_list() -> None:
    """One URL or a list of them flattens to a tuple, dropping blanks and non-strings."""
    assert url_list("https://a") == ("https://a",)
    assert url_list(["https://a", "", 3, "https://b"]) == ("https://a", "https://b")
    assert url_list({"url": "x"}) == ()


def test_pick_code_prefers_words_over_numbers() -> None:
    """A descriptive code beats a bare HTTP number, which beats nothing."""
    assert pick_code(400, "invalid_request_error") == "invalid_request_error"
    assert pick_code(400, None) == "400"
    assert pick_code(None, "", True) is None


def test_raw_status_missing_is_unknown_but_wrong_type_is_refused() -> None:
    """A missing status reads as "" (UNKNOWN); a non-string status cannot be read."""
    assert raw_status(None, "p") == ""
    with pytest.raises(ProviderResponseError):
        raw_status(3, "p")


def test_task_status_turns_success_without_urls_into_no_output() -> None:
    """A success with no video URL is a failure with code NO_OUTPUT (D5)."""
    status = task_status("t", "completed", urls=())
    assert (status.state, status.error_code, status.urls_expire_at) == (
        TaskState.FAILED,
        NO_OUTPUT,
        None,
    )


def test_task_status_expiry_prefers_provider_then_completion() -> None:
    """URLs expire at the provider's expires_at, else 24 h after completion (D9)."""
    given = task_status("t", "completed", urls=("u",), completed_at=100.0, expires_at=500.0)
    derived = task_status("t", "completed", urls=("u",), completed_at=100.0)
    assert given.urls_expire_at == 500.0
    assert derived.urls_expire_at == 100.0 + URL_LIFETIME_S


def test_read_video_object_falls_back_to_the_content_route() -> None:
    """A completed video object without any URL field gets the provider's content route."""
    status = read_video_object(
        {"id": "v1", "status": "completed", "video_url": "", "completed_at": 0},
        provider="p",
        task_id=None,
        url_paths=[("video_url",)],
        content_url=lambda task_id: f"https://p/{task_id}/content",
    )
    assert status.state is TaskState.SUCCEEDED
    assert status.video_urls == ("https://p/v1/content",)
    assert status.completed_at is None


def test_choose_model_order() -> None:
    """An explicit model beats the tier, the tier beats the configured default, then fast."""
    by_tier = {Tier.FAST: "f", Tier.QUALITY: "q"}
    assert choose_model("m", Tier.QUALITY, "d", by_tier) == "m"
    assert choose_model(None, Tier.QUALITY, "d", by_tier) == "q"
    assert choose_model(None, None, "d", by_tier) == "d"
    assert choose_model(None, None, None, by_tier) == "f"
    assert choose_model(None, Tier.FAST, None, {}) is None


def test_choice_problems_name_the_allowed_values() -> None:
    """Refusals name the field, the allowed values and what was given."""
    params = VideoParams(aspect_ratio="4:3", resolution="720P", last_frame_url="https://l")
    problems = choice_problems(
        "apixo", params, aspect_ratios={"16:9", "9:16", "auto"}, resolutions={"720p"}, durations={8}
    )
    assert problems == [
        Problem("aspect_ratio", "apixo supports aspect_ratio 16:9, 9:16, auto; got 4:3"),
        Problem("last_frame_url", "last_frame_url requires first_frame_url"),
    ]
