#!/usr/bin/env bash
# Lint, format check, strict type check and the whole test suite. Run inside the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
ruff format --check .
mypy
pytest "$@"
