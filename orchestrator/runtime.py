"""The one owner of reelay's async resources: store, HTTP clients, engine and listeners.

Resources open in order and close in reverse; background loops run in one task group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass

import httpx
import uvicorn
from starlette.applications import Starlette

from orchestrator.activity import ActivityLog
from orchestrator.api import create_api_app
from orchestrator.artifacts.downloader import Downloader
from orchestrator.artifacts.media_worker import MediaWorker
from orchestrator.artifacts.retention import Pruner
from orchestrator.artifacts.setup import open_storage, provider_auth
from orchestrator.artifacts.storage import ArtifactMissing, ArtifactStorage
from orchestrator.branch_videos import BranchVideos
from orchestrator.common import redact
from orchestrator.common.transport import AiohttpTransport
from orchestrator.domain.callbacks import CallbackTarget
from orchestrator.domain.models import Step
from orchestrator.engine import CallbackUrlFor, Engine, FrameUrlFor
from orchestrator.engine.budget import settings_caps
from orchestrator.intake import CallbackInbox
from orchestrator.metrics import Metrics
from orchestrator.operations import Operations
from orchestrator.providers import http as provider_http
from orchestrator.providers.base import Provider
from orchestrator.providers.registry import build_providers
from orchestrator.secrets import DASHBOARD_SECRET, signing_secrets, stored_secret, webhook_secrets
from orchestrator.settings import Settings
from orchestrator.spending import Spending
from orchestrator.startup import DatabaseLock, check_database_url, listen, load_prices, refusal
from orchestrator.store import Store, open_store
from orchestrator.ui import Dashboard, dashboard_mount
from orchestrator.ui.session import Sessions
from orchestrator.webhooks.delivery import Deliverer
from orchestrator.webhooks.endpoints import WebhookOperations
from orchestrator.webhooks.ssrf import WebhookSender
from receiver.app import create_receiver_app
from receiver.frames import FrameTokens, frame_url
from receiver.tokens import CallbackTokens, callback_url

log = logging.getLogger("reelay")


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: Store
    providers: Mapping[str, Provider]
    engine: Engine
    operations: Operations
    api_app: Starlette
    public_app: Starlette
    tokens: CallbackTokens
    deliverer: Deliverer
    webhooks: WebhookOperations
    downloader: Downloader
    media: MediaWorker
    storage: ArtifactStorage
    pruner: Pruner | None
    metrics: Metrics


def _callback_urls(public_url: str | None, tokens: CallbackTokens) -> CallbackUrlFor | None:
    """Callback mode is on when providers can reach us: REELAY_PUBLIC_URL is set."""
    if public_url is None:
        return None

    def url_for(step: Step) -> str:
        return callback_url(
            public_url, CallbackTarget(step.pipeline_id, step.index, step.provider), tokens
        )

    return url_for


def _frame_urls(public_url: str | None, tokens: FrameTokens) -> FrameUrlFor | None:
    """Continuations need providers to fetch a frame from us: REELAY_PUBLIC_URL is set."""
    if public_url is None:
        return None
    return lambda key: frame_url(public_url, key, tokens)


async def _read_frame(storage: ArtifactStorage, key: str) -> bytes | None:
    try:
        return b"".join([chunk async for chunk in storage.read(key)])
    except ArtifactMissing:
        return None


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    providers: Mapping[str, Provider] | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Runtime]:
    """Open everything ``serve`` runs; a SQLite file is refused if another process has it."""
    async with contextlib.AsyncExitStack() as stack:
        observers = provider_http.Observers()
        if providers is None:
            providers, clients = build_providers(settings.providers(), observe=observers)
            for client in clients:
                await stack.enter_async_context(client)
        redact.install()
        prices = load_prices(settings)
        lock = DatabaseLock.acquire(settings.database_url)
        stack.callback(lock.release)
        store = await open_store(settings.database_url, keep_videos=settings.keep_videos)
        stack.push_async_callback(store.close)
        metrics = Metrics(store, providers)
        observers.add(metrics.provider_request)
        download_client = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=AiohttpTransport(max_connections=settings.artifact_concurrency * 2),
                timeout=httpx.Timeout(60.0, connect=10.0),
                follow_redirects=True,
            )
        )
        sender = await stack.enter_async_context(
            WebhookSender(
                allow_private=settings.webhook_allow_private,
                timeout_s=settings.webhook_timeout_s,
                max_connections=settings.webhook_concurrency,
            )
        )
        secrets = await signing_secrets(store, settings)
        tokens = CallbackTokens(secrets, max_age_s=settings.callback_token_max_age_s)
        frame_tokens = FrameTokens(secrets, max_age_s=settings.frame_url_max_age_s, clock=clock)
        engine = Engine(
            store,
            providers,
            settings,
            clock=clock,
            callback_url_for=_callback_urls(settings.public_url, tokens),
            frame_url_for=_frame_urls(settings.public_url, frame_tokens),
            prices=prices,
        )
        observers.add(engine.provider_health.observe)
        observers.add(engine.request_stats.observe)
        inbox = CallbackInbox(store, wake=engine.wake, clock=clock)
        stack.push_async_callback(inbox.close)
        parsers = {n: p.parse_callback for n, p in providers.items() if p.capabilities.callbacks}
        operations = Operations(
            store,
            providers,
            wake=engine.wake,
            clock=clock,
            allow_private_webhooks=settings.webhook_allow_private,
            prices=prices,
            health=engine.provider_health.reasons,
            routable=routable_providers(settings, providers),
            frames_published=settings.public_url is not None and settings.keep_videos,
        )
        spending = Spending(store, settings_caps(settings), wake=engine.wake, clock=clock)
        metrics.spending = spending
        await spending.wake_waiters()
        hook_secrets = await webhook_secrets(store, settings)
        deliverer = Deliverer(
            store,
            sender,
            hook_secrets,
            clock=clock,
            concurrency=settings.webhook_concurrency,
            timeout_s=settings.webhook_timeout_s,
            tick_s=settings.engine_tick_s,
        )
        stack.push_async_callback(deliverer.close)
        store.add_commit_listener(deliverer.wake)
        storage = open_storage(settings)
        stack.push_async_callback(storage.aclose)
        downloader = Downloader(
            store,
            storage,
            download_client,
            auth_for=provider_auth(settings),
            clock=clock,
            concurrency=settings.artifact_concurrency,
            max_bytes=settings.artifact_max_bytes,
            tick_s=settings.engine_tick_s,
        )
        store.add_commit_listener(downloader.wake)
        media = MediaWorker(store, storage, wake_engine=engine.wake, clock=clock)
        store.add_commit_listener(media.wake)
        store.add_commit_listener(ActivityLog(store, await store.last_event_id()).wake)
        pruner = (
            Pruner(store, storage, settings.artifact_retention_days * 86_400, clock=clock)
            if settings.artifact_retention_days
            else None
        )
        await store.listen(engine.wake)
        if store.shared and not settings.artifact_s3_bucket:
            log.warning(
                "artifacts are kept on this machine's disk (%s); with several replicas, set "
                "REELAY_ARTIFACT_S3_BUCKET so that any replica can serve every video",
                settings.data_dir,
            )
        webhooks = WebhookOperations(
            store, wake=deliverer.wake, clock=clock, allow_private=settings.webhook_allow_private
        )
        api_tokens = settings.named_api_tokens()  # REELAY_API_TOKEN is "api"
        board = Dashboard(
            Sessions(await stored_secret(store, DASHBOARD_SECRET), api_tokens.values()),
            api_tokens,
            providers,
            clock=clock,
        )
        yield Runtime(
            settings=settings,
            store=store,
            providers=providers,
            engine=engine,
            operations=operations,
            api_app=create_api_app(
                operations,
                store,
                api_token=None,
                api_tokens=api_tokens,
                webhooks=webhooks,
                webhook_secrets=hook_secrets,
                storage=storage,
                provider_health=engine.health,
                metrics=metrics,
                provider_report=engine.provider_report,
                mounts=[dashboard_mount(board)],
                spending=spending,
                videos=BranchVideos(store, clock=clock, wake=media.wake, kept=settings.keep_videos),
            ),
            public_app=create_receiver_app(
                inbox,
                tokens,
                parsers,
                on_reject=metrics.callback_rejected,
                on_accept=metrics.callback_accepted,
                body_timeout_s=settings.callback_body_timeout_s,
                frames=(frame_tokens, lambda key: _read_frame(storage, key)),
            ),
            tokens=tokens,
            deliverer=deliverer,
            webhooks=webhooks,
            downloader=downloader,
            media=media,
            storage=storage,
            pruner=pruner,
            metrics=metrics,
        )


def routable_providers(settings: Settings, providers: Mapping[str, Provider]) -> list[str]:
    """What ``"provider": "auto"`` may route to: the providers with an API key (all of them
    when none has one, as with adapters given by a test)."""
    keyed = [name for name in providers if settings.provider(name).api_key is not None]
    return keyed or list(providers)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve``, which runs two of them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _server(
    app: Starlette,
    host: str,
    port: int,
    log_level: str,
    *,
    root_path: str = "",
    forwarded_allow_ips: str | None = None,
) -> _Server:
    """``forwarded_allow_ips``: the proxies whose X-Forwarded-* are trusted (None: uvicorn's
    default, a proxy on 127.0.0.1)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        root_path=root_path,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level=log_level,
        log_config=None,  # uvicorn's lines go through reelay's handler and format
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    return _Server(config)


@contextlib.asynccontextmanager
async def _listening_runtime(
    settings: Settings,
) -> AsyncIterator[tuple[Runtime, socket.socket, socket.socket]]:
    """The runtime and its two listening sockets, bound first: a port in use (another reelay
    here, say) is refused before anything touches the database. Known start-up failures are
    raised as ``CannotStart``."""
    check_database_url(settings.database_url)
    async with contextlib.AsyncExitStack() as stack:
        api = stack.enter_context(
            listen(settings.api_host, settings.api_port, "REELAY_API_HOST", "REELAY_API_PORT")
        )
        public = stack.enter_context(
            listen(
                settings.public_host,
                settings.public_port,
                "REELAY_PUBLIC_HOST",
                "REELAY_PUBLIC_PORT",
            )
        )
        try:
            rt = await stack.enter_async_context(open_runtime(settings))
        except Exception as exc:
            known = refusal(exc, settings)
            if known is None or known is exc:
                raise
            raise known from exc
        yield rt, api, public


async def serve(
    settings: Settings,
    *,
    started: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the public receiver, the internal API and the engine until SIGTERM/SIGINT or ``stop``.

    On a stop signal the listeners close, submits in flight are answered and recorded, and the
    store closes; the next start resumes from the store.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await _serve(settings, started, stop)
    finally:  # whatever ended it, the signals' default actions come back
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def _serve(settings: Settings, started: asyncio.Event | None, stop: asyncio.Event) -> None:
    async with _listening_runtime(settings) as (rt, api_socket, public_socket):
        api = _server(
            rt.api_app,
            settings.api_host,
            settings.api_port,
            settings.log_level,
            root_path=settings.root_path,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
        public = _server(
            rt.public_app, settings.public_host, settings.public_port, settings.log_level
        )

        async def stopper() -> None:
            await stop.wait()
            log.info("stopping: finishing submits in flight")
            rt.engine.stop()
            rt.deliverer.stop()
            rt.downloader.stop()
            rt.media.stop()
            if rt.pruner is not None:
                rt.pruner.stop()
            api.should_exit = public.should_exit = True

        async with asyncio.TaskGroup() as tg:
            tg.create_task(rt.engine.run())
            tg.create_task(rt.deliverer.run())
            tg.create_task(rt.downloader.run())
            tg.create_task(rt.media.run())
            if rt.pruner is not None:
                tg.create_task(rt.pruner.run())
            tg.create_task(api.serve(sockets=[api_socket]))
            tg.create_task(public.serve(sockets=[public_socket]))
            tg.create_task(stopper())
            while not (api.started and public.started):  # noqa: ASYNC110 - uvicorn has no event
                await asyncio.sleep(0.01)
            log.info(
                "reelay serving: API http://%s:%d, receiver http://%s:%d, database %s",
                settings.api_host,
                api_socket.getsockname()[1],
                settings.public_host,
                public_socket.getsockname()[1],
                settings.database_url,
            )
            if started is not None:
                started.set()
