"""Three-valued (Kleene) ``and`` and ``or``: ``None`` is unknown, and unknown never turns into a pass or a fail.

``and`` is False as soon as one part is False, even if others are unknown; True only if every part is True;
otherwise unknown. ``or`` is the mirror image. Used by the ``and``/``or`` operators and by ``all()``/``any()``.
"""

from __future__ import annotations

from miniapp_api.welfare.expr.runtime import Compiled, Env, Value


def kleene_and(parts: tuple[Compiled, ...]) -> Compiled:
    def run(env: Env) -> Value:
        mark = len(env.missing)
        unknown = False
        for part in parts:
            v = part(env)
            if v is None:
                unknown = True
            elif not v:
                # Decided by this fail: the facts the unknown parts asked for could not change the answer,
                # so they are not asked.
                del env.missing[mark:]
                return False
        return None if unknown else True

    return run


def kleene_or(parts: tuple[Compiled, ...]) -> Compiled:
    def run(env: Env) -> Value:
        mark = len(env.missing)
        unknown = False
        for part in parts:
            v = part(env)
            if v is None:
                unknown = True
            elif v:
                del env.missing[mark:]  # decided by this pass: as in kleene_and, ask nothing more
                return True
        return None if unknown else False

    return run
