"""The provider sandbox: apimart, octopusx, apixo and apifree emulated in one ASGI app.

It serves each provider's documented API (paths, validation, envelopes, errors, callbacks with
their retry schedules) over in-memory tasks whose state follows the clock, hands out result
links that expire like the real ones, and injects faults on demand. reelay can thus be
developed, demoed and tested with no API key and no network.

Each task's result is a small real MP4 of its own (``video``): an extend's holds the whole
video so far, an image-to-video's starts with the image it fetched, and every frame carries a
mark saying which task made it and where it falls, which ``video.read_marks`` reads back.

    from orchestrator.sandbox import SandboxConfig, run
    run("127.0.0.1", 9000, SandboxConfig(task_seconds=2))

See ``app`` for the base URLs to give reelay and ``control`` for the ``/_sandbox`` routes.
"""

from orchestrator.sandbox.app import create_sandbox_app
from orchestrator.sandbox.config import SandboxConfig
from orchestrator.sandbox.server import run, serve

__all__ = ["SandboxConfig", "create_sandbox_app", "run", "serve"]
