"""What the job running in a transaction did that its writer acts on after the commit."""

from __future__ import annotations


class JobMarks:
    """Set by the transaction's parts as they write; reset for every job of a batch."""

    __slots__ = ("made_due", "wrote_events")

    def __init__(self) -> None:
        self.wrote_events = False
        """The job appended events (listeners wake, other replicas are told)."""
        self.made_due = False
        """The job made work due that any replica may do (a callback, a released poll)."""
