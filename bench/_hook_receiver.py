"""A webhook receiver for bench/webhooks.py: records how late each message arrived."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

delays: list[float] = []
seen: set[str] = set()


async def hook(request: Request) -> Response:
    arrived = time.time()
    body = json.loads(await request.body())
    sent_for = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).timestamp()
    if request.headers["webhook-id"] not in seen:  # the first attempt only
        seen.add(request.headers["webhook-id"])
        delays.append(arrived - sent_for)
    return Response(status_code=204)


async def stats(request: Request) -> Response:
    return JSONResponse({"delays": delays})


app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/stats", stats)])

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
