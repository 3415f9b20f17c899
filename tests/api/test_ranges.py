"""HTTP Range parsing for the video route."""

from __future__ import annotations

import pytest

from orchestrator.api.ranges import Unsatisfiable, byte_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=900-5000", (900, 999)),
        ("bytes=0-0", (0, 0)),
        ("bytes=5-1", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=x-y", None),
    ],
)
def test_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    """Single ranges are honoured and clipped; anything else means the whole body."""
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable(header: str) -> None:
    """A range starting past the end (or an empty suffix) is unsatisfiable: 416."""
    with pytest.raises(Unsatisfiable):
        byte_range(header, 1000)
