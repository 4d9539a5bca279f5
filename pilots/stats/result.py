"""The shapes the statistics engine hands out.

Every method (two_group, pre_post, did, spc) returns a `MethodEstimate`: the
fixed-sample numbers for one metric. The judgement layer turns an estimate, the
metric's improvement direction and the pilot's pre-registered minimal important
difference into a `Result`, which carries exactly the fields of the "Evaluation
result" contract in DESIGN.md. Everything here is frozen and JSON-friendly:
numbers, strings, tuples and plain mappings only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DataWarning:
    """A data-quality warning: a stable code the UI translates, and its numbers."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MethodEstimate:
    """What one statistical method found, before any verdict.

    `estimate` is the absolute effect in the metric's unit (arm difference, DiD
    interaction, ITS level change), or the rate ratio for rates. `se` is its
    standard error on the scale the interval was built on, `n` the effective sample
    size used by the sequential interval. `sufficient` is False when the method
    cannot answer honestly; then the verdict is `insufficient_data`.
    """

    method: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    se: float | None = None
    n: int = 0
    n_pilot: int = 0
    n_comparison: int = 0
    sufficient: bool = True
    details: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[DataWarning, ...] = ()


@dataclass(frozen=True)
class Result:
    """One metric's evaluation result, field for field as DESIGN.md names them."""

    metric: str
    role: str
    design: str
    method: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_pilot: int
    n_comparison: int
    probability_improved: float | None
    verdict: str
    summary: Mapping[str, str]  # language code ("nb", "en") -> one sentence
    details: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[DataWarning, ...] = ()


_RESULT_FIELDS = frozenset(Result.__dataclass_fields__)


def revised(result: Result, **changes: Any) -> Result:
    """`dataclasses.replace(result, **changes)`, written out for the engine.

    Every metric of every evaluation is revised once or twice after judging, and
    `replace` looks up and checks the dataclass's fields on each call, which costs
    more than building the Result. A Result's `__dict__` holds exactly its fields, in
    order, so the copy is made by filling a new one's `__dict__`: a frozen dataclass's
    `__init__` sets each of its 15 fields through `object.__setattr__`, which cost
    more than the rest of the revision. Result has no `__post_init__` to skip.
    """
    if not changes.keys() <= _RESULT_FIELDS:
        unknown = sorted(changes.keys() - _RESULT_FIELDS)
        raise TypeError(f"Result has no field(s) {', '.join(unknown)}")
    copy = object.__new__(Result)
    fields = copy.__dict__
    fields.update(result.__dict__)
    fields.update(changes)
    return copy
