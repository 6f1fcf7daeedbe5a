"""SLA clocks: business calendars, plans and priorities, due times and the customer-facing ETA."""

from sla.calendar import (
    Calendar,
    Pause,
    WorkInterval,
    add_business_minutes,
    business_minutes_between,
    due_with_pauses,
    elapsed_business_minutes,
    is_working,
    next_working_instant,
)
from sla.eta import Eta, eta_data, eta_values, format_eta
from sla.policy import (
    DueTimes,
    Impact,
    Plan,
    Priority,
    SlaPolicy,
    Targets,
    UnknownPlanError,
    Urgency,
)

__all__ = [
    "Calendar",
    "DueTimes",
    "Eta",
    "Impact",
    "Pause",
    "Plan",
    "Priority",
    "SlaPolicy",
    "Targets",
    "UnknownPlanError",
    "Urgency",
    "WorkInterval",
    "add_business_minutes",
    "business_minutes_between",
    "due_with_pauses",
    "elapsed_business_minutes",
    "eta_data",
    "eta_values",
    "format_eta",
    "is_working",
    "next_working_instant",
]
