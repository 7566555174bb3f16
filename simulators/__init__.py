"""Simulated machines and energy meters with an exact ground truth."""

from simulators.fleet import Fleet, FleetConfig, default_fleet
from simulators.machine import MachineRun, MachineSpec, simulate_machine
from simulators.truth import MachineTruth

__all__ = [
    "Fleet",
    "FleetConfig",
    "MachineRun",
    "MachineSpec",
    "MachineTruth",
    "default_fleet",
    "simulate_machine",
]
