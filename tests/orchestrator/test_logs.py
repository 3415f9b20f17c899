"""Log lines: text by default, JSON on request, pipeline context carried, secrets never shown."""

from __future__ import annotations

import datetime
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.common import logs
from orchestrator.settings import ConfigError, load_settings

BEARER = "Authorization: Bearer rl_live_9f8e7d6c5b4a"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CALLBACK = "https://reelay.example/callbacks/apixo/eyJwIjoicGxfMSJ9.Zx8kYq2"


class Lines:
    """A logger whose records are formatted into a buffer, one line per record."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.buffer = io.StringIO()
        handler = logging.StreamHandler(self.buffer)
        handler.setFormatter(formatter)
        self.log = logging.getLogger(f"reelay.test.{id(self)}")
        self.log.propagate = False
        self.log.setLevel(logging.DEBUG)
        self.log.addHandler(handler)

    def text(self) -> str:
        return self.buffer.getvalue()

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines()]


@pytest.fixture
def json_lines() -> Lines:
    return Lines(logs.JsonFormatter())


@pytest.fixture
def text_lines() -> Lines:
    return Lines(logs.TextFormatter())


def test_json_line_has_the_fields_and_the_pipeline_context(json_lines: Lines) -> None:
    """A JSON line carries ts (ISO-8601 UTC), level, logger, message and the context fields."""
    json_lines.log.info(
        "step %d submitted", 2, extra=logs.context(pipeline_id="pl_1", step=2, provider="apixo")
    )
    json_lines.log.warning("no context here")
    first, second = json_lines.json()
    assert first["level"] == "INFO"
    assert first["logger"] == json_lines.log.name
    assert first["message"] == "step 2 submitted"
    assert (first["pipeline_id"], first["step"], first["provider"]) == ("pl_1", 2, "apixo")
    assert first["ts"].endswith("Z")
    when = datetime.datetime.fromisoformat(first["ts"].replace("Z", "+00:00"))
    assert when.utcoffset() == datetime.timedelta(0)
    assert "pipeline_id" not in second
    assert "exception" not in second


def test_json_line_carries_the_exception(json_lines: Lines) -> None:
    """A logged exception arrives as its traceback text, in the same single line."""
    try:
        raise RuntimeError("the provider hung up")
    except RuntimeError:
        json_lines.log.exception("poll failed", extra=logs.context(pipeline_id="pl_2", step=0))
    assert len(json_lines.text().splitlines()) == 1
    (line,) = json_lines.json()
    assert "RuntimeError: the provider hung up" in line["exception"]
    assert line["pipeline_id"] == "pl_2"


def test_json_redacts_tokens_and_secrets(json_lines: Lines) -> None:
    """Bearer tokens, whsec_/sk- secrets, callback URL tokens and secret-named extras vanish."""
    json_lines.log.info(
        "sent %s with %s to %s",
        BEARER,
        WHSEC,
        CALLBACK,
        extra={
            "api_key": "sk-abcdef0123456789",
            "signing_secret": "s3cr3t",
            "headers": {"Authorization": "Bearer rl_live_9f8e7d6c5b4a", "Accept": "*/*"},
            "url": CALLBACK,
            "note": "key sk-abcdef0123456789 rotated",
        },
    )
    (line,) = json_lines.json()
    raw = json_lines.text()
    for secret in ("rl_live_9f8e7d6c5b4a", WHSEC, "eyJwIjoicGxfMSJ9", "sk-abcdef", "s3cr3t"):
        assert secret not in raw
    assert line["message"] == (
        "sent Authorization: <redacted> with whsec_<redacted> to "
        "https://reelay.example/callbacks/apixo/<redacted>"
    )
    assert line["api_key"] == line["signing_secret"] == "<redacted>"
    assert line["headers"] == {"Authorization": "<redacted>", "Accept": "*/*"}
    assert line["url"] == "https://reelay.example/callbacks/apixo/<redacted>"
    assert line["note"] == "key sk-<redacted> rotated"


def test_json_redacts_secrets_in_the_exception(json_lines: Lines) -> None:
    """An exception's message is scrubbed like the log message."""
    try:
        raise ValueError(f"refused {BEARER}")
    except ValueError:
        json_lines.log.exception("failed")
    assert "rl_live_9f8e7d6c5b4a" not in json_lines.text()


def test_text_keeps_the_classic_line_and_appends_context(text_lines: Lines) -> None:
    """Text lines read as before; context fields follow as key=value, secrets scrubbed."""
    text_lines.log.info("plain")
    text_lines.log.info("calling back %s", CALLBACK, extra=logs.context(pipeline_id="pl_3", step=1))
    plain, with_context = text_lines.text().splitlines()
    assert plain.endswith(f" INFO {text_lines.log.name}: plain")
    assert with_context.endswith(
        'calling back https://reelay.example/callbacks/apixo/<redacted> pipeline_id="pl_3" step=1'
    )


def test_text_hides_the_password_of_a_database_url(text_lines: Lines) -> None:
    """The start-up line names the database; its password never shows."""
    text_lines.log.info("database %s", "postgresql://reelay:pw-4f1a9c@db:5432/reelay")
    assert (
        text_lines.text()
        .rstrip()
        .endswith("database postgresql://reelay:<redacted>@db:5432/reelay")
    )


def test_context_leaves_out_unset_fields_and_refuses_reserved_names() -> None:
    """context() drops None values and refuses names that would clobber LogRecord attributes."""
    assert logs.context(pipeline_id="pl_1") == {"pipeline_id": "pl_1"}
    assert logs.context(pipeline_id="pl_1", step=0, provider="apixo") == {
        "pipeline_id": "pl_1",
        "step": 0,
        "provider": "apixo",
    }
    with pytest.raises(ValueError, match="message"):
        logs.context(pipeline_id="pl_1", message="x")


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_restored")
def test_configure_json_writes_json_lines_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """configure(level, "json") makes every logger write JSON lines on stderr."""
    logs.configure("info", "json")
    logging.getLogger("reelay.engine").info("hello", extra=logs.context(pipeline_id="pl_9"))
    logging.getLogger("reelay.engine").debug("not at info")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["hello"]
    assert json.loads(lines[0])["pipeline_id"] == "pl_9"
    assert logging.getLogger("httpx").level == logging.WARNING


def test_log_format_setting_defaults_to_text() -> None:
    """REELAY_LOG_FORMAT is text unless set to json; other values are refused."""
    assert load_settings(_env_file=None).log_format == "text"
    assert load_settings(_env_file=None, log_format="json").log_format == "json"
    with pytest.raises(ConfigError, match="log_format"):
        load_settings(_env_file=None, log_format="xml")
