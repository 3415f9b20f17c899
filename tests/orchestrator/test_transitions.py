"""What a change of pipelines implies: rows, numbered events, webhook messages, downloads."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from orchestrator.domain.models import EventDraft, PipelineStatus, PipelineView, StepStatus
from orchestrator.domain.webhooks import Endpoint
from orchestrator.transitions import implied
from tests.store.builders import NOW, make_view, with_step

S = StepStatus


def _endpoint(endpoint_id: str, *types: str, enabled: bool = True) -> Endpoint:
    return Endpoint(
        endpoint_id, f"https://hooks.example/{endpoint_id}", "", types, (), enabled, 0, 0
    )


def _running(pipeline_id: str, event_seq: int = 4, **changes: Any) -> PipelineView:
    view = make_view(pipeline_id, 2, status=PipelineStatus.RUNNING, event_seq=event_seq, **changes)
    return with_step(view, 0, status=S.RUNNING, provider_task_id="t-0", progress=10)


def test_a_new_pipeline_is_inserted_with_its_created_event() -> None:
    """Every row of a new pipeline is inserted; one ``pipeline.created`` event, numbered 1."""
    view = make_view("pl_a", 3)
    what = implied([(None, view)], NOW)
    assert what.new_pipelines == (replace(view.pipeline, event_seq=1),)
    assert what.new_steps == view.steps
    assert (what.changed_pipelines, what.changed_steps, what.downloads) == ((), (), ())
    assert [(e.pipeline_id, e.seq, e.type, e.created_at) for e in what.events] == [
        ("pl_a", 1, "pipeline.created", NOW)
    ]


def test_only_changed_steps_are_updated() -> None:
    """An unchanged step is not written; the pipeline row always is (its event count)."""
    before = _running("pl_a")
    after = with_step(before, 0, progress=60)
    what = implied([(before, after)], NOW)
    assert what.changed_steps == (after.steps[0],)
    assert what.new_steps == ()
    assert what.changed_pipelines == (replace(after.pipeline, event_seq=5),)
    assert [(e.seq, e.type, e.step) for e in what.events] == [(5, "step.running", 0)]


def test_events_continue_each_pipelines_count_and_extra_ones_follow_as_given() -> None:
    """Derived events first, change by change; then the extra ones in their given order, each
    numbered after its pipeline's last."""
    a, b = _running("pl_a", event_seq=4), _running("pl_b", event_seq=9)
    a_done = with_step(a, 0, status=S.SUCCEEDED)
    extra = [EventDraft("x", "pl_b"), EventDraft("y", "pl_a", 0, {"n": 1}), EventDraft("z", "pl_b")]
    what = implied([(a, a_done), (b, b)], NOW, extra=extra)
    assert [(e.pipeline_id, e.seq, e.type) for e in what.events] == [
        ("pl_a", 5, "step.succeeded"),
        ("pl_b", 10, "x"),
        ("pl_a", 6, "y"),
        ("pl_b", 11, "z"),
    ]
    assert what.events[2].data == {"n": 1}
    assert {p.id: p.event_seq for p in what.changed_pipelines} == {"pl_a": 6, "pl_b": 11}


def test_an_event_for_a_pipeline_not_changed_is_refused() -> None:
    """Every event must name a pipeline of the change: its count is written with it."""
    view = _running("pl_a")
    with pytest.raises(ValueError, match="pl_zz"):
        implied([(view, view)], NOW, extra=[EventDraft("tick", "pl_zz")])


def test_a_step_that_just_succeeded_asks_for_its_videos() -> None:
    """One download per video of a step that succeeded in this change, not again later."""
    before = _running("pl_a")
    urls = ("https://cdn.example/1.mp4", "https://cdn.example/2.mp4")
    after = with_step(before, 0, status=S.SUCCEEDED, video_urls=urls, urls_expire_at=NOW + 60)
    what = implied([(before, after)], NOW)
    assert [(d.pipeline_id, d.step, d.url_index, d.url) for d in what.downloads] == [
        ("pl_a", 0, 0, urls[0]),
        ("pl_a", 0, 1, urls[1]),
    ]
    assert {d.expires_at for d in what.downloads} == {NOW + 60}
    assert implied([(after, with_step(after, 0, updated_at=NOW + 1))], NOW).downloads == ()


def test_events_go_to_the_pipelines_webhook_and_to_endpoints_that_want_them() -> None:
    """The pipeline's own URL gets the default events; an enabled endpoint what it asks for;
    a disabled one nothing. No events, no messages."""
    before = _running("pl_a", webhook_url="https://own.example/hook")
    after = with_step(before, 1, status=S.SUBMITTING)
    after = with_step(after, 0, status=S.SUCCEEDED)
    endpoints = [_endpoint("ep_steps", "step.*"), _endpoint("ep_off", enabled=False)]
    what = implied([(before, after)], NOW, endpoints)
    sent = [(m.destination, m.url, m.seq, m.type) for m in what.outbox]
    assert sent == [
        ("pipeline", "https://own.example/hook", 5, "step.succeeded"),
        ("ep_steps", "https://hooks.example/ep_steps", 5, "step.succeeded"),
        ("ep_steps", "https://hooks.example/ep_steps", 6, "step.submitting"),
    ]
    body = json.loads(what.outbox[0].payload)
    assert body["data"]["pipeline_id"] == "pl_a"
    assert body["data"]["seq"] == 5
    assert implied([(before, before)], NOW, endpoints).outbox == ()
