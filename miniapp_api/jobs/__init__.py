"""Job matching (issue 17)."""
