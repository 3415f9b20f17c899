"""Where a running sandbox serves each provider, and the settings that point reelay at it.

``reelay sandbox`` prints the base URLs when it starts, and ``reelay sandbox --print-env``
prints the ``export`` lines the README's sandbox block evaluates, so the two cannot drift.
"""

from __future__ import annotations

import shlex

from orchestrator.sandbox import apifree, apimart, apixo, octopusx

PREFIXES = {
    apimart.NAME: apimart.PREFIX,
    octopusx.NAME: octopusx.PREFIX,
    apixo.NAME: apixo.PREFIX,
    apifree.NAME: apifree.PREFIX,
}

APIFREE_MODEL = "veo-3.1-fast"
"""apifree documents no Veo model id; the sandbox accepts any, and this is the one we use."""

FAST_POLLING = {"FIRST_POLL_S": "1", "POLL_INTERVAL_S": "1", "POLL_MAX_INTERVAL_S": "2"}
"""Sandbox tasks take seconds, not the minutes reelay's defaults wait for."""

_ANY_HOST = {"", "0.0.0.0", "::"}  # noqa: S104 - compared, not bound


def root_url(host: str, port: int) -> str:
    """The sandbox's root URL as a client on this machine reaches it."""
    if host in _ANY_HOST:
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def base_urls(host: str, port: int) -> dict[str, str]:
    root = root_url(host, port)
    return {name: root + prefix for name, prefix in PREFIXES.items()}


def startup_line(host: str, port: int) -> str:
    urls = ", ".join(f"{name} {url}" for name, url in base_urls(host, port).items())
    return (
        f"reelay sandbox on {root_url(host, port)}: {urls} "
        "(`reelay sandbox --print-env` prints the settings for reelay)"
    )


def env_lines(host: str, port: int, api_key: str | None = None) -> list[str]:
    """``export`` lines giving reelay every provider's base URL, a key, fast polling and the
    apifree model; ``api_key`` is the key the sandbox requires, if it requires one."""
    lines = []
    for name, url in base_urls(host, port).items():
        prefix = f"REELAY_{name.upper()}_"
        settings = {"BASE_URL": url, "API_KEY": api_key or "sandbox", **FAST_POLLING}
        if name == apifree.NAME:
            settings["MODEL"] = APIFREE_MODEL
        lines.append(
            "export " + " ".join(f"{prefix}{k}={shlex.quote(v)}" for k, v in settings.items())
        )
    return lines
