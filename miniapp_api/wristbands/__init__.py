"""Wristband check-ins at checkpoints: bands and the people wearing them, health statuses, trips and
key areas, the gate decision, the offline stop-list bundle, bounded tracing and the retention purge."""
