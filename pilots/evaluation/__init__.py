"""The evaluation service: a pilot's observations, its frozen plan, the statistics engine.

Layer: evaluation -> stats + domain (no Flask). `service.evaluate_pilot` evaluates one
pilot as of a date and stores one result per (pilot, metric, as-of date);
`methods` maps design x metric type to the engine's call; `plan` reads the approved
(frozen) plan or a draft as a labelled preview; `cadence.evaluate_due` is the
scheduler's job for pilots due by their cadence. The web, the CLI and the scheduler
call these; pages read the stored rows back with `latest_evaluation`,
`evaluation_at` and `evaluation_history`.
"""

from pilots.evaluation.cadence import due_pilots, evaluate_due, next_look
from pilots.evaluation.plan import PREVIEW_LABEL, load_plan
from pilots.evaluation.service import (
    evaluate_pilot,
    evaluation_at,
    evaluation_history,
    last_look,
    latest_evaluation,
)

__all__ = [
    "PREVIEW_LABEL",
    "due_pilots",
    "evaluate_due",
    "evaluate_pilot",
    "evaluation_at",
    "evaluation_history",
    "last_look",
    "latest_evaluation",
    "load_plan",
    "next_look",
]
