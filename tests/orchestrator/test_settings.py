"""Settings: the documented environment names, defaults, and refusing unsafe combinations."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from orchestrator.settings import ConfigError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults: SQLite ./reelay.db, API on 127.0.0.1:8081, receiver 127.0.0.1:8080, real URLs."""
    for name in ("REELAY_DATABASE_URL", "REELAY_API_PORT", "REELAY_APIXO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings(_env_file=None)
    assert s.database_url == "sqlite:///./reelay.db"
    assert (s.api_host, s.api_port, s.public_host, s.public_port) == (
        "127.0.0.1",
        8081,
        "127.0.0.1",
        8080,
    )
    assert s.public_url is None
    assert s.apixo.base_url == "https://api.apixo.ai/api/v1"
    assert s.apimart.base_url == "https://api.apimart.ai"
    assert s.octopusx.base_url == "https://octopusx.ai"
    assert s.apifree.base_url == "https://api.apifree.ai"


def test_provider_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """REELAY_<PROVIDER>_API_KEY sets only the key; the default base URL stays."""
    monkeypatch.setenv("REELAY_APIXO_API_KEY", "k-123")
    monkeypatch.setenv("REELAY_APIMART_BASE_URL", "http://127.0.0.1:9000/apimart")
    monkeypatch.setenv("REELAY_APIMART_FIRST_POLL_S", "3")
    s = load_settings(_env_file=None)
    assert s.apixo.api_key is not None
    assert s.apixo.api_key.get_secret_value() == "k-123"
    assert s.apixo.base_url == "https://api.apixo.ai/api/v1"
    assert s.apimart.base_url == "http://127.0.0.1:9000/apimart"
    assert s.apimart.first_poll_s == 3.0


def test_dotenv_file(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .env file is read like the environment."""
    env = tmp_path / ".env"  # type: ignore[operator]
    env.write_text("REELAY_API_PORT=9191\nREELAY_OCTOPUSX_API_KEY=ok\n")
    s = load_settings(_env_file=env)
    assert s.api_port == 9191
    assert s.octopusx.api_key is not None


def test_public_api_needs_a_token() -> None:
    """Binding the API off loopback without REELAY_API_TOKEN refuses to start, naming it."""
    with pytest.raises(ConfigError, match="REELAY_API_TOKEN"):
        load_settings(api_host="0.0.0.0", _env_file=None)
    assert load_settings(api_host="0.0.0.0", api_token="t", _env_file=None).api_host == "0.0.0.0"


def test_bad_value_names_the_setting() -> None:
    """A bad value is one clear error naming the setting."""
    with pytest.raises(ConfigError, match="api_port"):
        load_settings(api_port=70000, _env_file=None)


CI = "ci-token-0123456789abcdef"


def test_named_tokens_join_the_api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """REELAY_API_TOKENS adds named tokens; REELAY_API_TOKEN is the one named ``api``; either
    lets the API listen off loopback."""
    monkeypatch.setenv("REELAY_API_TOKENS", f" ci={CI} , alice.b-2=alice-token-0123456789,")
    monkeypatch.setenv("REELAY_API_TOKEN", "short")
    assert load_settings(_env_file=None).named_api_tokens() == {
        "api": "short",
        "ci": CI,
        "alice.b-2": "alice-token-0123456789",
    }
    monkeypatch.delenv("REELAY_API_TOKEN")
    named_only = load_settings(api_host="0.0.0.0", _env_file=None)
    assert set(named_only.named_api_tokens()) == {"ci", "alice.b-2"}
    assert CI not in repr(named_only)


def test_no_token_is_an_open_api() -> None:
    """With neither setting there is no token: the API is open (on loopback only)."""
    assert load_settings(_env_file=None, api_token=None, api_tokens=None).named_api_tokens() == {}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (CI, "entry 1 is not name=token"),
        (f"ci={CI},{CI}", "entry 2 is not name=token"),
        (f"CI={CI}", "entry 1: the name must be"),
        (f"{'n' * 41}={CI}", "entry 1: the name must be"),
        (f"c i={CI}", "entry 1: the name must be"),
        (f"={CI}", "entry 1: the name must be"),
        ("ci=0123456789abcde", "entry 1 (ci): the token must be at least 16 characters"),
        (f"ci={CI},ci={CI}x", "names 'ci' twice"),
        (f"ci={CI},cd={CI}", "a token that another name has"),
        (f"api={CI}", "that is REELAY_API_TOKEN's name"),
    ],
)
def test_a_malformed_token_list_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    """A malformed REELAY_API_TOKENS stops start-up with one error naming the setting and
    the entry, and never the token."""
    monkeypatch.setenv("REELAY_API_TOKENS", value)
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None)
    message = str(refused.value)
    assert message.startswith("REELAY_API_TOKENS")
    assert says in message
    assert CI not in message
    assert refused.value.__cause__ is None  # pydantic's text would repeat the values


def test_serve_refuses_a_malformed_token_list_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reelay serve`` exits 2 with one line naming REELAY_API_TOKENS, before it binds."""
    from orchestrator.cli import main

    monkeypatch.chdir(tmp_path)  # no .env file
    monkeypatch.setenv("REELAY_API_TOKENS", "ci=tooshort")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reelay: REELAY_API_TOKENS entry 1 (ci)")
    assert err.count("\n") == 1
    assert "tooshort" not in err


def test_money_settings_are_exact_decimals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caps are read as decimals (never floats) and the refund policy per provider."""
    monkeypatch.setenv("REELAY_BUDGET_USD_PER_MONTH", "100.10")
    monkeypatch.setenv("REELAY_APIXO_BUDGET_USD_PER_DAY", "0.30")
    monkeypatch.setenv("REELAY_APIXO_REFUND_ON_FAILURE", "true")
    s = load_settings(_env_file=None)
    assert s.budget_usd_per_month == Decimal("100.10")
    assert s.budget_usd_per_day is None
    assert s.apixo.budget_usd_per_day == Decimal("0.30")
    assert (s.apixo.refund_on_failure, s.apimart.refund_on_failure) == (True, False)


@pytest.mark.parametrize("value", ["ten", "-1", "0.0000001"])
def test_a_bad_cap_names_its_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("REELAY_APIXO_BUDGET_USD_PER_DAY", value)
    with pytest.raises(ConfigError, match=r"apixo\.budget_usd_per_day"):
        load_settings(_env_file=None)
