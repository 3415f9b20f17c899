"""The client side: the ``reelay`` command, the API client, ``watch``, progress and the demo."""

from orchestrator.cli.commands import UsageError, main

__all__ = ["UsageError", "main"]
