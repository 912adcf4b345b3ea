"""HEAD for every GET route and OPTIONS (with ``Allow``) for every path, added while the app is built.

sanic-ext can do this (``HTTP_AUTO_HEAD``/``HTTP_AUTO_OPTIONS``), but it adds the routes one at a time
in a start-up listener, after the routers are finalised: each addition re-renders and recompiles both
routers, which made every worker (and every test server) spend seconds starting. Added here, before
the first finalise, they cost nothing; the behaviour is the same (HEAD runs the GET handler with its
guards, Sanic drops the body; OPTIONS answers 204 with the allowed methods).
"""

from __future__ import annotations

from functools import partial
from inspect import isawaitable, signature
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, empty


async def _head(request: Request, *args: Any, get_handler: Any, **kwargs: Any) -> Any:
    answer = get_handler(request, *args, **kwargs)
    return await answer if isawaitable(answer) else answer


async def _options(request: Request, *args: Any, methods: list[str], **kwargs: Any) -> HTTPResponse:
    response = empty()
    response.headers["allow"] = ",".join([*methods, "OPTIONS"])
    return response


# What inspect.signature computes for each partial below, computed once: Sanic asks for the signature of
# every handler it registers, and a partial's is slow to derive (a test suite builds hundreds of apps).
_HEAD_SIGNATURE = signature(partial(_head, get_handler=None))
_OPTIONS_SIGNATURE = signature(partial(_options, methods=[]))


def _local(app: Sanic, name: str) -> str:
    # Route names carry the app's name in front; add_route puts it back.
    prefix = f"{app.name}."
    return name[len(prefix) :] if name.startswith(prefix) else name


def add_head_and_options(app: Sanic) -> None:
    """Call once, after every blueprint is registered and before the app starts."""
    groups = list(app.router.groups.values())
    for group in groups:
        if "GET" not in group.methods or "HEAD" in group.methods:
            continue
        for route in group:
            if "GET" not in route.methods:
                continue
            handler = partial(_head, get_handler=route.handler)
            handler.__auto_handler__ = True  # type: ignore[attr-defined]
            handler.__route_handler__ = route.handler  # type: ignore[attr-defined]
            handler.__signature__ = _HEAD_SIGNATURE  # type: ignore[attr-defined]
            app.add_route(
                handler,
                group.uri,
                methods=["HEAD"],
                strict_slashes=group.strict,
                name=f"{_local(app, route.name)}_head",
                host=route.requirements.get("host"),
                unquote=group.unquote,
            )
    for group in groups:
        if "OPTIONS" in group.methods:
            continue
        base = group[0]
        methods = sorted({*group.methods, *(["HEAD"] if "GET" in group.methods else [])})
        handler = partial(_options, methods=methods)
        handler.__auto_handler__ = True  # type: ignore[attr-defined]
        handler.__signature__ = _OPTIONS_SIGNATURE  # type: ignore[attr-defined]
        app.add_route(
            handler,
            group.uri,
            methods=["OPTIONS"],
            strict_slashes=group.strict,
            name=f"{_local(app, base.name)}_options",
            host=base.requirements.get("host"),
            unquote=group.unquote,
        )
