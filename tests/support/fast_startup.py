"""Start-up work that every test's app repeats with the same inputs, done once per test process.

Each test builds its own app (``create_app``) and starts it on a real port. Sanic and its libraries
redo, for every app, work whose result depends only on inputs that are the same in every test:

- sanic_routing renders the routers into Python source, then parses, unparses and compiles it:
  the same source gives the same code object, so it is compiled once per distinct source.
- ``path_to_parts`` (splitting and quoting a route's path) is a pure function of its arguments.
- Sanic's touch-up reads each patched method's source with ``inspect.getsource`` (tokenising the
  whole module) at every start; the source of a method never changes within a process.
- sanic-ext's injection asks ``typing.get_type_hints`` for every handler at every start.

Everything else stays real: every route, middleware, listener and signal is registered and runs
as in production; only identical results are reused. Production code does not use this module.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
import textwrap
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    _cache_router_compile()
    _cache_path_to_parts()
    _cache_touchup_source()
    _cache_injection_type_hints()


def _cache_router_compile() -> None:
    from sanic_routing import router as router_module
    from sanic_routing.router import BaseRouter

    render = BaseRouter._render
    compiled: dict[str, tuple[Any, str]] = {}

    def _render(self: Any, do_compile: bool = True, do_optimize: bool = False) -> None:
        if not do_compile or do_optimize:
            render(self, do_compile, do_optimize)
            return
        render(self, False)  # sets find_route_src (and each regex group's index), compiles nothing
        source = self.find_route_src
        cached = compiled.get(source)
        if cached is None:
            tree = ast.parse(source)
            unparsed = ast.unparse(tree)
            ast.fix_missing_locations(tree)
            cached = compiled[source] = (compile(tree, "", "exec"), unparsed)
        code, unparsed = cached
        self.find_route_src_compiled = unparsed
        ctx: dict[Any, Any] = {}
        # Fresh functions in the library module's globals (where register_pattern puts the casts), as it does.
        exec(code, router_module.__dict__, ctx)  # noqa: S102 (the router code sanic_routing rendered)
        self._find_route = ctx["find_route"]
        self._matchers = ctx.get("matchers")

    BaseRouter._render = _render  # type: ignore[method-assign]


def _cache_path_to_parts() -> None:
    from sanic_routing import utils

    original = utils.path_to_parts
    cached = functools.lru_cache(maxsize=None)(original)
    for name in ("sanic_routing.utils", "sanic_routing.router", "sanic_routing.route", "sanic.signals"):
        module = sys.modules.get(name) or __import__(name, fromlist=["_"])
        if getattr(module, "path_to_parts", None) is original:
            module.path_to_parts = cached  # type: ignore[attr-defined]


def _cache_touchup_source() -> None:
    from sanic.touchup.schemes import base

    getsource = functools.lru_cache(maxsize=None)(inspect.getsource)
    base.getsource = getsource  # type: ignore[attr-defined]
    # dedent and parse stay per app: the schemes change the tree in place.
    assert base.dedent is textwrap.dedent


def _cache_injection_type_hints() -> None:
    from sanic_ext.extensions.injection import injector

    get_type_hints = injector.get_type_hints
    hints: dict[Any, dict[str, Any]] = {}

    def cached(obj: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return get_type_hints(obj, *args, **kwargs)
        try:
            found = hints.get(obj)
        except TypeError:  # unhashable: ask every time
            return get_type_hints(obj)
        if found is None:
            found = hints[obj] = get_type_hints(obj)  # a TypeError propagates, uncached, as before
        return dict(found)

    injector.get_type_hints = cached  # type: ignore[attr-defined]
