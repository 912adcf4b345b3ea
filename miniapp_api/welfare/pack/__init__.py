"""A welfare pack: the variable registry, dated parameters and one YAML file per policy, loaded and checked.

Layout of a pack directory::

    variables.yaml         the registry: name -> type, entity, unit, label, Chinese question (or a formula)
    parameters/*.yaml      name -> label, unit, values: [{from, value, source: {title, url}}, ...]
    policies/*.yaml        one policy each (see the shipped ones)

``check(directory)`` returns every problem found (an empty list: the pack is good); ``load(directory)``
raises ``PackError`` with all of them, or returns the compiled pack. Everything is parsed and compiled here,
once: evaluating a profile only runs closures.

Hostile input: a file larger than 256 KB, more than 1,000 policies, expressions nested deeper than 32 or YAML
aliases are refused.

The code, one module per part of a pack (read them in this order)::

    model.py       what a loaded pack is: Pack, Policy, Condition, Amount, Parameter, Variable, Source, PackError
    reading.py     safe, size-capped YAML without aliases; dates and sources
    variables.py   variables.yaml: the registry, derived variables and their cycles
    parameters.py  parameters/*.yaml: dated values with their sources
    checks.py      the linter's checks on expressions: unknown names, parameters used, parameters without a value
    describe.py    an amount's formula written out with the values it used
    policies.py    policies/*.yaml: one policy checked and compiled
    loader.py      the whole pack: check(), load(), shipped(), SHIPPED

Everything a caller needs is importable from here (``from miniapp_api.welfare import pack``; ``pack.load``,
``pack.Pack`` ...); the modules above are the layout, not the interface.
"""

from miniapp_api.welfare.pack.loader import MAX_POLICIES, SHIPPED, check, load, shipped
from miniapp_api.welfare.pack.model import (
    BUILTIN_FACTS,
    ENTITIES,
    PERIODS,
    TARGETS,
    TYPES,
    Amount,
    Condition,
    Pack,
    PackError,
    Parameter,
    Policy,
    Source,
    Variable,
)
from miniapp_api.welfare.pack.reading import MAX_FILE_BYTES

__all__ = [
    "BUILTIN_FACTS",
    "ENTITIES",
    "MAX_FILE_BYTES",
    "MAX_POLICIES",
    "PERIODS",
    "SHIPPED",
    "TARGETS",
    "TYPES",
    "Amount",
    "Condition",
    "Pack",
    "PackError",
    "Parameter",
    "Policy",
    "Source",
    "Variable",
    "check",
    "load",
    "shipped",
]
