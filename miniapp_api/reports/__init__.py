"""明心桥 reports: the closed loop from a resident's message to a confirmed resolution."""
