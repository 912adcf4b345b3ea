"""Job matching tests: the demo hierarchy (GM > GM01 > GM0101 > GM010101; another street GM02) is
loaded by the helpers in ``seed``."""
