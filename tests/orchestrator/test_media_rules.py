"""The pure rules of long videos: which media jobs a change asks for, and which files make a
branch's whole video (decided from the files' probes, not from the provider)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.artifacts.jobs import media_for
from orchestrator.domain.media import Piece, last_good, leaves, pieces
from orchestrator.domain.models import (
    Pipeline,
    PipelineStatus,
    PipelineView,
    Step,
    StepStatus,
)
from orchestrator.domain.values import StepKind, VideoParams

NOW = 1_800_000_000.0
S = StepStatus


def step(index: int, parent: int | None, kind: StepKind = "extend", status: S = S.PENDING) -> Step:
    return Step(
        pipeline_id="pl_x",
        index=index,
        provider="apixo",
        kind="generate" if parent is None else kind,
        parent=parent,
        prompt="p",
        model="fast",
        params=VideoParams(),
        provider_options={},
        status=status,
        created_at=NOW,
        updated_at=NOW,
    )


def view(*steps: Step) -> PipelineView:
    pipeline = Pipeline("pl_x", "apixo", PipelineStatus.RUNNING, NOW, NOW)
    return PipelineView(pipeline, steps)


def with_status(v: PipelineView, **statuses: S) -> PipelineView:
    changed = tuple(
        replace(s, status=statuses[f"s{s.index}"]) if f"s{s.index}" in statuses else s
        for s in v.steps
    )
    return PipelineView(v.pipeline, changed)


def test_a_leaf_that_succeeds_asks_for_its_whole_video() -> None:
    before = view(step(0, None, status=S.SUCCEEDED), step(1, 0, status=S.RUNNING), step(2, 0))
    after = with_status(before, s1=S.SUCCEEDED)
    assert leaves(after) == [1, 2]
    assert media_for([(before, after)]) == [("pl_x", 1, "video")]
    assert media_for([(after, after)]) == []  # nothing moved: nothing asked again


def test_a_failed_leaf_asks_for_a_partial_video_only_when_something_above_succeeded() -> None:
    before = view(step(0, None, status=S.SUCCEEDED), step(1, 0, status=S.RUNNING), step(2, 1))
    after = with_status(before, s1=S.FAILED, s2=S.CANCELLED)
    assert last_good(after, 2) == 0
    assert media_for([(before, after)]) == [("pl_x", 2, "video")]
    base_failed = view(step(0, None, status=S.FAILED), step(1, 0, status=S.CANCELLED))
    assert media_for([(None, base_failed)]) == []


def test_a_continuation_asks_for_its_parents_last_frame_once_the_parent_succeeded() -> None:
    before = view(step(0, None, status=S.RUNNING), step(1, 0, kind="generate"))
    after = with_status(before, s0=S.SUCCEEDED)
    assert ("pl_x", 0, "frame") in media_for([(before, after)])
    assert media_for([(None, before)]) == []  # the parent has not succeeded
    framed = PipelineView(
        after.pipeline, (after.steps[0], replace(after.steps[1], first_frame="k"))
    )
    assert media_for([(after, framed)]) == []


def probe(duration: float, first: str = "same", fps: float = 8.0) -> dict[str, Any]:
    return {"duration_s": duration, "fps": fps, "first_frame": first}


def same(a: str, b: str) -> bool:
    return a == b


def test_an_extends_file_that_holds_its_ancestors_is_the_whole_video() -> None:
    chain = view(step(0, None), step(1, 0), step(2, 1))
    probes = {0: probe(8), 1: probe(15), 2: probe(22)}
    assert pieces(chain, 2, probes, same) == [Piece(2)]


def test_an_extends_file_of_only_its_new_part_follows_its_parents_pieces() -> None:
    chain = view(step(0, None), step(1, 0), step(2, 1))
    probes = {0: probe(8), 1: probe(7, first="new1"), 2: probe(7, first="new2")}
    assert pieces(chain, 2, probes, same) == [Piece(0), Piece(1), Piece(2)]


def test_a_long_file_that_starts_elsewhere_is_not_taken_for_the_whole_video() -> None:
    chain = view(step(0, None), step(1, 0))
    assert pieces(chain, 1, {0: probe(8), 1: probe(15, first="other")}, same) == [
        Piece(0),
        Piece(1),
    ]


def test_a_continuation_follows_its_parent_and_drops_its_repeated_first_frame() -> None:
    """apixo: base, extend (whole so far), continuation, extend of the continuation (whole
    since the continuation): the extend's 15 s file, then the second extend's, its first frame
    dropped."""
    chain = view(step(0, None), step(1, 0), step(2, 1, kind="generate"), step(3, 2))
    probes = {0: probe(8), 1: probe(15), 2: probe(8, first="c"), 3: probe(15, first="c")}
    assert pieces(chain, 3, probes, same) == [Piece(1), Piece(3, drop_first_frame=True)]
    assert pieces(chain, 2, probes, same) == [Piece(1), Piece(2, drop_first_frame=True)]


def test_new_parts_after_a_continuation_are_joined_in_order() -> None:
    chain = view(step(0, None), step(1, 0, kind="generate"), step(2, 1), step(3, 2))
    probes = {
        0: probe(8),
        1: probe(8, first="c"),
        2: probe(7, first="n2"),
        3: probe(7, first="n3"),
    }
    assert pieces(chain, 3, probes, same) == [
        Piece(0),
        Piece(1, drop_first_frame=True),
        Piece(2),
        Piece(3),
    ]


def test_a_continuation_that_does_not_start_with_the_frame_keeps_its_first_frame() -> None:
    chain = view(step(0, None), step(1, 0, kind="generate"))
    probes = {0: probe(8), 1: probe(8, first="c")}
    assert pieces(chain, 1, probes, same, seams={1: False}) == [Piece(0), Piece(1)]
    assert pieces(chain, 1, probes, same) == [Piece(0), Piece(1, drop_first_frame=True)]
