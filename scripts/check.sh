#!/usr/bin/env bash
# Lint, format check, strict type check, the import layers and the whole test suite. Run inside the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
ruff format --check .
mypy
lint-imports --no-cache  # the layer contracts in pyproject.toml
pytest "$@"
