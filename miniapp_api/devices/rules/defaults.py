"""The rules a device type starts with (issue 14's defaults, after the standards they cite)."""

from __future__ import annotations

from miniapp_api.devices.rules.catalogue import (
    DEFAULT_NOISE_ZONE,
    METRICS_BY_TYPE,
    NOISE_ZONES,
    DeviceType,
    RuleError,
    Severity,
)
from miniapp_api.devices.rules.engine import Level, ThresholdRule


def _battery_rule() -> ThresholdRule:
    # Battery below 20 %: warning; cleared only at >= 25 % (a new battery), so the voltage that recovers
    # a little when the radio is idle does not clear it. Three readings: voltage sags while transmitting.
    return ThresholdRule(
        "battery_low", "battery_pct", "below", (Level(Severity.WARNING, 20.0, 25.0),), samples=3, strict=True
    )


def _noise_levels(limit: float) -> tuple[Level, ...]:
    # Warning above the zone's limit, major above limit + 10 dB (ten times the sound energy). Clear 3 dB
    # under each (half the sound energy): well outside a class 2 sound level meter's +-1.4 dB tolerance
    # (GB/T 3785.1-2023), so ordinary fluctuation around the limit does not flap.
    return (Level(Severity.WARNING, limit, limit - 3.0), Level(Severity.MAJOR, limit + 10.0, limit + 7.0))


def noise_limits(noise_zone: str | None) -> tuple[float, float]:
    """(day, night) dB(A) limits of a GB 3096-2008 zone class; class "2" when none is given."""
    key = DEFAULT_NOISE_ZONE if noise_zone is None else str(noise_zone).strip().lower()
    if key not in NOISE_ZONES:
        raise RuleError("noise_zone", f"unknown GB 3096-2008 zone class (one of {', '.join(NOISE_ZONES)})")
    return NOISE_ZONES[key]


def default_rules(device_type: DeviceType, *, noise_zone: str | None = None) -> list[ThresholdRule]:
    """The threshold rules a device of this type starts with (issue 14's defaults)."""
    device_type = DeviceType(device_type)
    rules: list[ThresholdRule] = []
    if device_type is DeviceType.GAS:
        # Issue 14: 10 %LEL warning, 20 %LEL critical (two-stage alarm points as in GB/T 50493-2019, whose
        # first stage is at most 25 %LEL). Clear at 80 % of each set point (8 / 16 %LEL): a margin above the
        # +-3 %LEL accuracy of household catalytic and semiconductor sensors, and a leak that is still at
        # 9 %LEL stays an alarm. One reading suffices: a leak is never waited for.
        rules.append(
            ThresholdRule(
                "gas",
                "gas_lel_pct",
                "above",
                (Level(Severity.WARNING, 10.0, 8.0), Level(Severity.CRITICAL, 20.0, 16.0)),
            )
        )
    elif device_type is DeviceType.SMOKE:
        # A smoke detector (GB 20517-2006) reports a decision, not a concentration: 1 is critical, 0 clears.
        rules.append(ThresholdRule("smoke", "smoke", "above", (Level(Severity.CRITICAL, 1.0, 0.0),)))
    elif device_type is DeviceType.WATER:
        # GB 5749-2022 drinking water at the tap. Online analysers see bubbles and electrode drift, and
        # compliance is judged on samples, not instants: three consecutive readings.
        rules += [
            # pH not below 6.5 and not above 8.5; clear 0.1 inside (pH electrodes are accurate to +-0.05).
            ThresholdRule("ph_low", "ph", "below", (Level(Severity.WARNING, 6.5, 6.6),), samples=3, strict=True),
            ThresholdRule("ph_high", "ph", "above", (Level(Severity.WARNING, 8.5, 8.4),), samples=3, strict=True),
            # Turbidity at most 1 NTU; clear at 0.8 NTU.
            ThresholdRule(
                "turbidity", "turbidity_ntu", "above", (Level(Severity.MAJOR, 1.0, 0.8),), samples=3, strict=True
            ),
            # Free chlorine at the tap at least 0.05 mg/L (disinfection) and at most 2 mg/L; clear at
            # 0.08 / 1.8 mg/L (amperometric sensors: +-0.02 mg/L at the low end).
            ThresholdRule(
                "chlorine_low",
                "free_chlorine_mg_l",
                "below",
                (Level(Severity.WARNING, 0.05, 0.08),),
                samples=3,
                strict=True,
            ),
            ThresholdRule(
                "chlorine_high",
                "free_chlorine_mg_l",
                "above",
                (Level(Severity.WARNING, 2.0, 1.8),),
                samples=3,
                strict=True,
            ),
        ]
    elif device_type is DeviceType.NOISE:
        day, night = noise_limits(noise_zone)
        # GB 3096-2008: a zone complies at or under its limit, so "above" is strict; three consecutive
        # samples so that a passing lorry or a door slam does not alarm.
        rules.append(
            ThresholdRule(
                "noise",
                "noise_dba",
                "above",
                _noise_levels(day),
                samples=3,
                night_levels=_noise_levels(night),
                strict=True,
            )
        )
    elif device_type is DeviceType.AIR:
        # GB 3095-2012 Table 1 class 2: PM2.5 24 h mean at most 75 ug/m3 (IAQI 100, HJ 633-2012); major above
        # 115 ug/m3 (IAQI 150, "light pollution" ends). Clear at 70 / 105: a 24 h mean moves slowly, a small
        # margin is enough.
        rules.append(
            ThresholdRule(
                "pm25",
                "pm25_ugm3",
                "above",
                (Level(Severity.WARNING, 75.0, 70.0), Level(Severity.MAJOR, 115.0, 105.0)),
                average_seconds=86400.0,
                strict=True,
            )
        )
    if "battery_pct" in METRICS_BY_TYPE[device_type]:
        rules.append(_battery_rule())
    return rules
