"""The welfare calculator (issue 16): policies as dated data, screened with three-valued logic and explained.

``pack`` loads and checks a policy pack (``gmid welfare check``), ``expr`` is the condition language,
``profiles`` checks a household or enterprise profile, ``engine`` screens it. The HTTP API comes next.
"""
