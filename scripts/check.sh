#!/usr/bin/env bash
# Lint, format check, strict type check, the import layers and the whole test suite. Run inside the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
# The dashboard's browser tests drive Debian's Chromium (Playwright's own download is not used).
if [ ! -x "${REELAY_TEST_CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "the browser tests need Chromium: sudo apt-get install -y chromium" >&2
    exit 1
  fi
fi
ruff check .
ruff format --check .
mypy
lint-imports --no-cache  # the layer contracts in pyproject.toml
pytest "$@"
