"""Sweeps across the zoo and hardware: where is the fleet furthest from the hardware's limits, and which
fixes would recover the most time across it?"""

from trainperf.fleet.priorities import FIXES_SCHEMA, fleet_overlap, rank_fixes, read_weights
from trainperf.fleet.sweep import FLEET_SCHEMA, FleetResult, fleet_sweep, sweep

__all__ = ["FIXES_SCHEMA", "FLEET_SCHEMA", "FleetResult", "fleet_overlap", "fleet_sweep", "rank_fixes",
           "read_weights", "sweep"]
