"""Sweeps across the zoo and hardware: where is the fleet furthest from the hardware's limits?"""

from trainperf.fleet.sweep import FLEET_SCHEMA, sweep

__all__ = ["FLEET_SCHEMA", "sweep"]
