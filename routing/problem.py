"""The engine's data and plans under one name (kept so that ``from routing.problem import ...``
keeps working): the problem in :mod:`routing.data`, the plans in :mod:`routing.plan`."""

from routing.data import BusType, ProblemData, School, Stop, Yard
from routing.plan import METRES_PER_MILE, Bus, BusPlan, Infeasible, Run, Session, Visit

__all__ = [
    "School",
    "Stop",
    "BusType",
    "Yard",
    "ProblemData",
    "Visit",
    "Run",
    "Bus",
    "Infeasible",
    "BusPlan",
    "Session",
    "METRES_PER_MILE",
]
