"""The welfare calculator (issue 16): policies as dated data, screened with three-valued logic and explained.

``pack`` loads and checks a policy pack (``gmid welfare check``), ``expr`` is the condition language,
``profiles`` checks a household or enterprise profile, ``engine`` screens it. ``routes`` / ``service`` are the
HTTP API, ``versions`` the loaded pack versions (``gmid welfare load``), ``push`` and ``jobs`` the proactive
screening of consenting residents' saved profiles.
"""
