"""Settings: the documented environment names, defaults, and refusing unsafe combinations."""

from __future__ import annotations

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
