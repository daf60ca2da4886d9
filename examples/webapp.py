"""A twelve-factor web app: configuration from the environment only, one shared client.

    CF_AIG_ACCOUNT_ID=... CF_AIG_TOKEN=... uvicorn examples.webapp:app

`cfgenai.client` is built on the first request, not at import, so the app starts even before
its configuration is complete (and `cfgenai doctor` tells what is missing). A sync endpoint runs
in Starlette's thread pool and uses `client.models`; an async one uses `client.aio.models`.
"""

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import cfgenai

MODEL = "gemini-2.5-flash"


def ask_sync(request: Request) -> JSONResponse:
    question = request.query_params.get("q", "What is Cloudflare?")
    response = cfgenai.client.models.generate_content(model=MODEL, contents=question)
    return JSONResponse(
        {"answer": response.text, "cache": cfgenai.gateway_info(response).cache_status}
    )


async def ask_async(request: Request) -> JSONResponse:
    question = request.query_params.get("q", "What is Cloudflare?")
    response = await cfgenai.client.aio.models.generate_content(model=MODEL, contents=question)
    return JSONResponse({"answer": response.text, "log_id": cfgenai.gateway_info(response).log_id})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    # The async transport belongs to this event loop. This closes the shared client only if it
    # was built (so a shutdown before any request needs no configuration); a later use, say
    # a restart in the same process, builds a new one.
    await cfgenai.aclose_client()


app = Starlette(routes=[Route("/ask", ask_sync), Route("/ask-async", ask_async)], lifespan=lifespan)
