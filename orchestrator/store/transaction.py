"""One database transaction, as the parts that read and write each kind of row.

A job given to ``Store.run`` gets a ``Transaction`` and uses its parts: ``tx.pipelines``,
``tx.claims``, ``tx.callbacks``, ``tx.replicas``, ``tx.webhooks``, ``tx.artifacts``,
``tx.money`` and ``tx.media``. They
write what they are given; what a change of pipelines implies (events, webhook messages,
downloads) is worked out before, by ``orchestrator.transitions``.
"""

from __future__ import annotations

from orchestrator.store.artifact_tx import ArtifactTx
from orchestrator.store.backend import Connection
from orchestrator.store.callback_tx import CallbackTx
from orchestrator.store.claim_tx import ClaimTx
from orchestrator.store.job import JobMarks
from orchestrator.store.media_tx import MediaTx
from orchestrator.store.money_tx import MoneyTx
from orchestrator.store.pipeline_tx import PipelineTx
from orchestrator.store.replica_tx import ReplicaTx
from orchestrator.store.webhook_tx import WebhookTx


class Transaction:
    """Reads and writes inside one database transaction."""

    def __init__(self, conn: Connection, *, keep_videos: bool = True) -> None:
        self.keep_videos = keep_videos
        """Whether result videos are kept (``REELAY_KEEP_VIDEOS``): without, a change's
        downloads and media jobs are not written."""
        self.marks = JobMarks()
        """What the current job did (reset per job by the writer)."""
        self.pipelines = PipelineTx(conn, self.marks)
        self.claims = ClaimTx(conn, self.marks, self.pipelines)
        self.callbacks = CallbackTx(conn, self.marks, self.pipelines)
        self.replicas = ReplicaTx(conn)
        self.webhooks = WebhookTx(conn)
        self.artifacts = ArtifactTx(conn)
        self.money = MoneyTx(conn)
        self.media = MediaTx(conn)

    def next_job(self) -> None:
        """Another job of the same batch starts."""
        self.marks.wrote_events = False

    def rolled_back(self) -> None:
        """The current job was undone: forget what it may have cached or done."""
        self.webhooks.forget()
        self.marks.wrote_events = False
        self.marks.made_due = False
