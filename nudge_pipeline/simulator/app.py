"""The two ASGI apps: the Nudgescribe API (with /__sim admin routes) and the storage host."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from nudge_pipeline.simulator.errors import ApiError, api_error_handler
from nudge_pipeline.simulator.faults import SimMiddleware
from nudge_pipeline.simulator.routes import admin, auth, campaigns, customers, messages, storage
from nudge_pipeline.simulator.state import SimState


def create_api_app(state: SimState) -> ASGIApp:
    app = FastAPI(title="Nudgescribe (simulated)", version="1", docs_url=None, redoc_url=None)
    app.state.sim = state
    app.add_exception_handler(ApiError, api_error_handler)
    for module in (auth, customers, campaigns, messages, admin):
        app.include_router(module.router)
    return SimMiddleware(app, state)


def create_storage_app(state: SimState) -> ASGIApp:
    app = FastAPI(
        title="Nudgescribe storage (simulated)", openapi_url=None, docs_url=None, redoc_url=None
    )
    app.state.sim = state
    app.include_router(storage.router)
    return SimMiddleware(app, state)
