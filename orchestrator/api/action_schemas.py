"""The bodies of the actions on a pipeline (cancel, retry, extend): each may say why.

The reason is kept in the action's audit event (``action.*``, see ``operations``), trimmed;
a blank one is none. The rule is ``operations.action_reason``'s, applied here too so that a
body's every wrong field is named at once.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from orchestrator.errors import Rejected
from orchestrator.operations import MAX_REASON, action_reason
from orchestrator.plans import ExtendSpec


def _reason(value: str | None) -> str | None:
    try:
        return action_reason(value)
    except Rejected as exc:
        raise PydanticCustomError("reason", exc.problems[0].message) from None


Reason = Annotated[
    str | None,
    AfterValidator(_reason),
    Field(
        description=f"Why; kept in the action's audit event. Trimmed, at most {MAX_REASON} "
        "characters; blank is none"
    ),
]


class ActionIn(BaseModel):
    """The optional body of cancel and retry."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason = None


class ExtendIn(ExtendSpec):
    """An extend step to add, and why (the reason is the audit event's, not the step's)."""

    reason: Reason = None

    def spec(self) -> ExtendSpec:
        """The step alone, as plans take it."""
        return ExtendSpec.model_validate(self.model_dump(by_alias=True, exclude={"reason"}))
