"""Simulated machines and energy meters with an exact ground truth."""

from simulators.fleet import Fleet, FleetConfig, default_fleet
from simulators.machine import MachineRun, MachineSpec, simulate_machine
from simulators.truth import machine_truth, window_truth

__all__ = [
    "Fleet",
    "FleetConfig",
    "MachineRun",
    "MachineSpec",
    "default_fleet",
    "machine_truth",
    "simulate_machine",
    "window_truth",
]
