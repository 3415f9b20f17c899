"""The engine: claims due work from the store, performs it against providers, records outcomes."""

from orchestrator.engine.engine import Engine
from orchestrator.engine.perform import CallbackUrlFor, FrameUrlFor

__all__ = ["CallbackUrlFor", "Engine", "FrameUrlFor"]
