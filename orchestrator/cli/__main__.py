"""``python -m orchestrator.cli``: the ``reelay`` command."""

import sys

from orchestrator.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
