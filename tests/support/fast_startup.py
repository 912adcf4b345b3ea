"""Start-up work that every test's app repeats with the same inputs, done once per test process.

Each test builds its own app (``create_app``) and starts it on a real port. Sanic and its libraries
redo, for every app, work whose result depends only on inputs that are the same in every test:

- sanic_routing renders the routers into Python source, then parses, unparses and compiles it:
  the same source gives the same code object, so it is compiled once per distinct source.
- ``path_to_parts`` (splitting and quoting a route's path) is a pure function of its arguments.
- Sanic's touch-up re-reads, parses, rewrites and compiles a few of its own methods at every start;
  the result depends only on the method and on the app's signals and HTTP versions, the cache key.
- ``Tortoise.init`` finalises every model at every start (its filters, its fields by kind, its base
  queries). The models are the same classes all along; what finalising computes depends only on the
  model and on the kind of database (the executor and query classes), so a model already finalised
  for this kind is left as it was.

Everything else stays real: every route, middleware, listener and signal is registered and runs
as in production; only identical results are reused. Production code does not use this module.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
import textwrap
import weakref
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    _cache_router_compile()
    _cache_path_to_parts()
    _cache_touchup()
    _cache_model_finalising()


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


def _cache_touchup() -> None:
    from sanic.touchup.schemes import base
    from sanic.touchup.schemes.altsvc import AltSvcCheck, RemoveAltSvc
    from sanic.touchup.schemes.ode import OptionalDispatchEvent

    build = base.BaseScheme.build.__func__  # type: ignore[attr-defined]
    base.getsource = functools.lru_cache(maxsize=None)(inspect.getsource)  # type: ignore[attr-defined]
    compiled: dict[tuple[Any, ...], Any] = {}

    def cached_build(cls: Any, method: Any, module_globals: dict[str, Any], app: Any) -> Any:
        if base.BaseScheme._registry != {OptionalDispatchEvent, AltSvcCheck}:
            return build(cls, method, module_globals, app)  # schemes this cache does not know
        # What the two schemes read from the app (OptionalDispatchEvent syncs the apps' events first,
        # as it does in build): the registered signals, and the HTTP versions and Alt-Svc value.
        events = frozenset(OptionalDispatchEvent(app)._registered_events)
        alt_svc = RemoveAltSvc(app)
        key = (method, events, frozenset(map(str, alt_svc._versions)), alt_svc.value())
        code = compiled.get(key)
        if code is None:
            node = ast.parse(textwrap.dedent(base.getsource(method)))  # type: ignore[attr-defined]
            for scheme in base.BaseScheme._registry:
                for visitor in scheme(app)():
                    node = visitor.visit(node)
            code = compiled[key] = compile(node, method.__name__, "exec")
        exec_locals: dict[str, Any] = {}
        exec(code, module_globals, exec_locals)  # noqa: S102 (Sanic's own method, touched up as Sanic does)
        return exec_locals[method.__name__]

    base.BaseScheme.build = classmethod(cached_build)  # type: ignore[assignment,method-assign]


def _cache_model_finalising() -> None:
    from typing import cast

    from pypika_tortoise import Query, Table
    from tortoise.apps import Apps

    # model -> what it was finalised for: its database kind, table and schema (weak: the migrations'
    # state models are classes of their own, made and dropped by the hundred; they use StateApps).
    finalised: weakref.WeakKeyDictionary[type, tuple[Any, ...]] = weakref.WeakKeyDictionary()

    def _build_initial_querysets(self: Apps) -> None:
        for app in self.apps.values():
            for model in app.values():
                meta = model._meta
                db = meta.db
                key = (db.executor_class, db.query_class, meta.db_table, meta.schema, len(meta.fields_map))
                if finalised.get(model) == key:
                    continue
                # Tortoise's own steps (tortoise/apps.py, Apps._build_initial_querysets).
                meta.finalise_model()
                meta.basetable = Table(name=meta.db_table, schema=meta.schema)
                basequery = db.query_class.from_(meta.basetable)
                meta.basequery = cast(Query, basequery)
                meta.basequery_all_fields = cast(Query, basequery.select(*meta.db_fields))
                finalised[model] = key

    Apps._build_initial_querysets = _build_initial_querysets  # type: ignore[method-assign]


class BlueprintState:
    """What registering on an app adds to the module-level blueprints, put back after the app's test.

    A Sanic blueprint keeps every app it was registered on, and the routes, middleware and error
    handlers it made for each, for as long as the process lives; registering re-scans all of them.
    One app per test made each ``create_app`` slower than the one before (and every garbage
    collection longer): the blueprints are put back as they were before the test's app was built.
    """

    _LISTS = ("routes", "websocket_routes", "middlewares", "exceptions")

    def __init__(self, blueprints: list[Any]) -> None:
        from sanic.blueprints import BlueprintGroup

        flat: list[Any] = []
        for bp in blueprints:
            flat.extend(bp.blueprints if isinstance(bp, BlueprintGroup) else [bp])
        self._saved = [(bp, set(bp._apps), {name: list(getattr(bp, name)) for name in self._LISTS}) for bp in flat]

    def restore(self) -> None:
        for bp, apps, lists in self._saved:
            bp._apps = apps
            for name, value in lists.items():
                setattr(bp, name, value)


def forget_routers() -> None:
    """Sanic caches route look-ups per router in a class-wide LRU cache (1,024 entries): each entry
    keeps its router, and so its app, alive long after the test; the next app has a router of its own."""
    from sanic.router import Router

    Router.get.cache_clear()
    Router.find_route_by_view_name.cache_clear()
