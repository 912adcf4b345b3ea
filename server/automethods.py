"""HEAD for every GET route and OPTIONS (with ``Allow``) for every path.

HEAD is the GET route itself: "HEAD" joins its methods while the app is built, so a HEAD request finds
the same route, name and handler as a GET. It runs with the same guards, token rule and rate limits,
and spends the same budget (a HEAD route of its own had only the default limits, counted apart);
Sanic sends no body.

OPTIONS has no routes: the router refuses it on a path it knows (405, with the path's methods) and the
error handler answers that refusal with 204 and ``Allow`` instead (``options_answer``). A route per
path cost every app (and every test server) a third of its build time; an unknown path stays 404.

sanic-ext can do both (``HTTP_AUTO_HEAD``/``HTTP_AUTO_OPTIONS``), but it adds routes one at a time in a
start-up listener, after the routers are finalised: each addition re-renders and recompiles both
routers, which made every worker spend seconds starting.
"""

from __future__ import annotations

from collections.abc import Iterable

from sanic import Sanic
from sanic.response import HTTPResponse, empty


def add_head(app: Sanic) -> None:
    """Call once, after every blueprint is registered and before the app starts (the routers are not
    finalised yet: each group indexes its routes by method when they are)."""
    for group in app.router.groups.values():
        if "GET" not in group.methods or "HEAD" in group.methods:
            continue
        for route in group:
            if "GET" in route.methods:
                route.methods = route.methods | {"HEAD"}


def allow_header(methods: Iterable[str]) -> str:
    """What ``Allow`` says for a path: its methods, then OPTIONS (answered on every known path)."""
    return ",".join([*sorted(set(methods) - {"OPTIONS"}), "OPTIONS"])


def options_answer(methods: Iterable[str]) -> HTTPResponse:
    response = empty()
    response.headers["allow"] = allow_header(methods)
    return response
