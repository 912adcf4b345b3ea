"""Sensor devices: registry, readings, rules, alarms, valve commands."""
