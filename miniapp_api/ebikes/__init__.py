"""E-bike e-ID: registration, ownership and transfer, the one-key alarm, scanning, the police lookup."""
