"""The two ASGI apps: the Nudgescribe API (with /__sim admin routes) and the storage host."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from nudge_pipeline.simulator.errors import ApiError, api_error_handler
from nudge_pipeline.simulator.faults import SimMiddleware
from nudge_pipeline.simulator.routes import admin, auth, campaigns, customers, messages, storage
from nudge_pipeline.simulator.state import SimState

Endpoint = Callable[[Request], Awaitable[Any]]


class DirectRoutes:
    """Sends the bulk route (one call per export file) straight to its endpoint.

    FastAPI's routing and middleware cost more than the endpoint itself, once per file. The
    route stays registered with FastAPI, which describes it in the OpenAPI schema and serves
    it in any other app; the endpoint is the same function either way.
    """

    def __init__(self, app: FastAPI, endpoints: dict[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http":
            endpoint = self.endpoints.get((scope["method"], scope["path"]))
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # endpoints find the simulator state on request.app
        request = Request(scope, receive)
        try:
            result = await endpoint(request)
        except ApiError as exc:
            result = await api_error_handler(request, exc)
        response = result if isinstance(result, Response) else JSONResponse(result)
        await response(scope, receive, send)


def create_api_app(state: SimState) -> ASGIApp:
    app = FastAPI(title="Nudgescribe (simulated)", version="1", docs_url=None, redoc_url=None)
    app.state.sim = state
    app.add_exception_handler(ApiError, api_error_handler)
    for module in (auth, customers, campaigns, messages, admin):
        app.include_router(module.router)
    direct = DirectRoutes(app, {("POST", "/v1/messages/fetch"): messages.fetch})
    return SimMiddleware(direct, state)


def create_storage_app(state: SimState) -> ASGIApp:
    app = FastAPI(
        title="Nudgescribe storage (simulated)", openapi_url=None, docs_url=None, redoc_url=None
    )
    app.state.sim = state
    app.include_router(storage.router)
    return SimMiddleware(app, state)
