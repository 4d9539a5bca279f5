"""Stored evaluations read back for people: the pilot page's charts, the analyst's
overview and its exports, a leader's portfolio and signals.

Layer: domain (no Flask). The evaluation service (`pilots.evaluation`) writes the
`evaluation` rows and reads one look back (`evaluation_at`, `latest_evaluation`,
`evaluation_history`); this module shapes those rows for charts and lists, and adds
the few read-side queries across many pilots that the service does not offer. Chart
payloads hold numbers and codes only; the web layer adds the reader's words.

Relative effects (the analyst's forest plot) put metrics with different units on one
axis, as a change in percent of a reference level: a ratio r (rates) becomes r - 1; a
difference d becomes d / |reference|, where the reference is the comparison arm's
level (`two_group`, the engine's own relative lift), the pilot arm's level before the
start (`did`), the fitted pre-period level at the start (`pre_post`, else the mean of
the periods before it), or the baseline mean (`spc`). The reference is taken as known,
so the relative interval is the absolute one scaled; that understates its width a
little when the reference is itself estimated from few data. The two-group lift's
interval is drawn on the log scale of the ratio (`_lift_interval`), so it never reaches
below -100 %.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime

from pilots.domain.metrics import shown_unit
from pilots.evaluation import evaluation_history, latest_evaluation
from pilots.stats.its import period_grid
from pilots.stats.summary import effect_decimals, in_percent

SIGNAL_VERDICTS = ("improved", "worsened")
OVERVIEW_STATUSES = ("approved", "running", "paused", "stopped", "concluded")
Z95 = 1.959963984540054


# ---- what a read depends on ------------------------------------------------------------

# The tables `pilot_results` reads (besides the pilot's start date), and those
# `signals_since` reads: the web layer keeps what it rendered from them until one changes.
RESULTS_READ = ("evaluation", "metric", "pdsa_cycle")
SIGNALS_READ = ("evaluation", "pilot", "unit", "metric", "role")


def change_counts(db, tables: tuple[str, ...]) -> tuple[int, ...]:
    """How many writes each table has seen (migration 0620's triggers count them all).

    Equal counts mean the tables hold what they held before, whoever wrote in between.
    """
    marks = ",".join("?" * len(tables))
    counts = {
        row["name"]: row["n"]
        for row in db.query(
            f"SELECT name, n FROM change_count WHERE name IN ({marks})",  # noqa: S608 - marks
            list(tables),
        )
    }
    return tuple(counts[table] for table in tables)


# ---- per metric: what kind of number, and its chart ------------------------------


def effect_kind(result: dict, unit: str | None = "") -> str:
    """How the estimate reads: `ratio` (rates), `proportion` (points of a share),
    `points` (a difference of a measure kept in per cent), or `mean` (in its unit)."""
    details = result["details"]
    if details.get("scale") == "log":
        return "ratio"
    if details.get("metric_type") == "proportion":
        return "proportion"
    return "points" if in_percent(unit) else "mean"


def _index_on_or_after(periods: list[str], day: str) -> int | None:
    for i, period in enumerate(periods):
        if period >= day:
            return i
    return None


def _marks(periods: list[str], start: str | None, cycles: list[dict]) -> dict:
    """Positions (fractional category indices) of the start and each PDSA cycle."""
    out = {"start": None, "cycles": []}
    if start:
        i = _index_on_or_after(periods, start)
        out["start"] = None if i is None else i - 0.5
    for cycle in cycles:
        i = _index_on_or_after(periods, cycle["started_on"])
        if i is not None and i > 0:
            out["cycles"].append({"number": cycle["number"], "x": i - 0.5})
    return out


def spc_chart(details: dict, start: str | None, cycles: list[dict]) -> dict | None:
    """An XmR chart: points, mean and limits per point (limits may be re-based), the
    baseline range, the start and the PDSA cycles, and each point's variation."""
    points = details.get("points") or []
    if not points:
        return None
    periods = [p["period"] for p in points]
    pre = [i for i, p in enumerate(points) if not p["post"]]
    return {
        "type": "spc",
        "periods": periods,
        "values": [p["value"] for p in points],
        "mean": [p["mean"] for p in points],
        "lower": [p["lower_limit"] for p in points],
        "upper": [p["upper_limit"] for p in points],
        "variation": [p.get("variation") or "common" for p in points],
        "baseline": [-0.5, pre[-1] + 0.5] if pre else None,
        "trial_limits": bool(details.get("trial_limits")),
        **_marks(periods, start, cycles),
    }


def _wilson(successes: float, trials: float) -> tuple[float, float, float] | None:
    if not trials:
        return None
    p = successes / trials
    denominator = 1 + Z95**2 / trials
    centre = (p + Z95**2 / (2 * trials)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / trials + Z95**2 / (4 * trials**2)) / denominator
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _mean_interval(mean, sd, n) -> tuple[float, float, float] | None:
    if mean is None or sd is None or not n or n < 2:
        return None
    from scipy.stats import t

    half = t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def _poisson_interval(events, exposure) -> tuple[float, float, float] | None:
    """Exact (Garwood) interval for events / exposure."""
    if events is None or not exposure:
        return None
    from scipy.stats import chi2

    low = chi2.ppf(0.025, 2 * events) / 2 if events > 0 else 0.0
    high = chi2.ppf(0.975, 2 * events + 2) / 2
    return events / exposure, low / exposure, high / exposure


def two_group_chart(details: dict, metric_type: str, n_pilot: int, n_comparison: int):
    """Each arm's level with its own 95 % interval (Wilson, t, or exact Poisson)."""
    arms = []
    for arm, n in (("pilot", n_pilot), ("comparison", n_comparison)):
        if metric_type == "proportion":
            found = _wilson(details.get(f"successes_{arm}"), details.get(f"trials_{arm}") or 0)
        elif metric_type == "rate":
            found = _poisson_interval(
                details.get(f"events_{arm}"), details.get(f"exposure_{arm}") or 0
            )
        else:
            found = _mean_interval(details.get(f"mean_{arm}"), details.get(f"sd_{arm}"), n)
        if found is None:
            return None
        estimate, low, high = (float(v) for v in found)
        arms.append({"arm": arm, "estimate": estimate, "low": low, "high": high})
    return {"type": "two_group", "arms": arms, "metric_type": metric_type}


def _by_arm(series: list[dict]) -> tuple[list[str], dict[str, list]]:
    periods = sorted({cell["period"] for cell in series})
    position = {period: i for i, period in enumerate(periods)}
    values: dict[str, list] = {"pilot": [None] * len(periods), "comparison": [None] * len(periods)}
    for cell in series:
        values[cell["arm"]][position[cell["period"]]] = cell["value"]
    return periods, values


def did_chart(details: dict, start: str | None, cycles: list[dict]) -> dict | None:
    """Both arms' period means over time, the start marked."""
    series = details.get("series") or []
    if not series:
        return None
    periods, values = _by_arm(series)
    marks = _marks(periods, start, cycles)
    return {
        "type": "did",
        "periods": periods,
        "pilot": values["pilot"],
        "comparison": values["comparison"],
        "baseline": [-0.5, marks["start"]] if marks["start"] not in (None, -0.5) else None,
        **marks,
    }


def _fitted(periods: list[str], values: list, details: dict, start: str) -> dict | None:
    """The segmented regression's two lines, for a plain OLS fit without seasonal terms.

    The stored result has the slopes and the level change but no intercept; with an
    intercept in the model the residuals sum to zero, so it is the mean of
    y - (slope terms), exactly as the fit had it.
    """
    if details.get("model") != "its_ols_hac" or details.get("harmonics"):
        return None
    b1, b2 = details.get("pre_slope"), details.get("level_change")
    b3 = details.get("slope_change") if details.get("slope_change_fitted") else 0.0
    if b1 is None or b2 is None or b3 is None:
        return None
    grid = period_grid([date.fromisoformat(p) for p in periods], date.fromisoformat(start))
    t = grid.numbers
    t0 = grid.start

    def terms(k):
        post = 1.0 if k >= t0 else 0.0
        return b1 * k + b2 * post + b3 * (k - t0) * post

    pairs = [(k, y) for k, y in zip(t, values, strict=True) if y is not None]
    if not pairs:
        return None
    b0 = sum(y - terms(k) for k, y in pairs) / len(pairs)
    pre = [b0 + terms(k) if k < t0 else None for k in t]
    post = [b0 + terms(k) if k >= t0 else None for k in t]
    return {"pre": pre, "post": post}


def pre_post_chart(details: dict, start: str | None, cycles: list[dict]) -> dict | None:
    """The points per period with the fitted segments before and after the start."""
    series = [cell for cell in details.get("series") or [] if cell["arm"] == "pilot"]
    if not series:
        return None
    periods = [cell["period"] for cell in series]
    values = [cell["value"] for cell in series]
    fitted = _fitted(periods, values, details, start) if start else None
    return {
        "type": "pre_post",
        "periods": periods,
        "values": values,
        "fitted_pre": fitted["pre"] if fitted else None,
        "fitted_post": fitted["post"] if fitted else None,
        **_marks(periods, start, cycles),
    }


def chart_for(result: dict, metric: dict, start: str | None, cycles: list[dict]):
    details = result["details"]
    design = result["design"]
    if design == "spc":
        return spc_chart(details, start, cycles)
    if design == "two_group":
        return two_group_chart(details, metric["type"], result["n_pilot"], result["n_comparison"])
    if design == "did":
        return did_chart(details, start, cycles)
    return pre_post_chart(details, start, cycles)


# ---- a pilot's results ---------------------------------------------------------------


def _metrics_by_slug(db, slugs) -> dict[str, dict]:
    slugs = list(slugs)
    if not slugs:
        return {}
    marks = ",".join("?" * len(slugs))
    return {
        row["slug"]: row
        for row in db.query(
            f"SELECT id, slug, name, type, direction, unit, rate_per FROM metric"  # noqa: S608
            f" WHERE slug IN ({marks})",
            slugs,
        )
    }


def _cycles(db, pilot_id: int) -> list[dict]:
    return list(
        db.query(
            "SELECT number, started_on FROM pdsa_cycle WHERE pilot_id = ? ORDER BY number",
            [pilot_id],
        )
    )


def sequential_interval(result: dict) -> tuple[float, float] | None:
    """The always-valid interval, when a scheduled look was judged by it."""
    details = result["details"]
    if details.get("verdict_interval") != "sequential":
        return None
    low, high = details.get("sequential_ci_low"), details.get("sequential_ci_high")
    return None if low is None or high is None else (low, high)


def effect_digits(result: dict, kind: str) -> int | None:
    """The decimals the result's sentence wrote its effect with (`effect_decimals`, from
    the interval the verdict used: `sequential`, else the fixed one), so its figures
    elsewhere read as the sentence does; None without an estimate and an interval."""
    low, high = result["sequential"] or (result["ci_low"], result["ci_high"])
    if result["estimate"] is None or low is None or high is None:
        return None
    return effect_decimals("mean" if kind == "points" else kind, result["estimate"], low, high)


def pilot_results(db, pilot: dict, history_limit: int = 24) -> dict | None:
    """The pilot's latest evaluation, per metric with its chart, and the history.

    None when the pilot was never evaluated.
    """
    look = latest_evaluation(db, pilot["id"])
    if look is None or not look["results"]:
        return None
    metrics = _metrics_by_slug(db, [r["metric"] for r in look["results"]])
    cycles = _cycles(db, pilot["id"])
    start = pilot.get("start_date")
    shown = []
    for result in look["results"]:
        metric = metrics.get(result["metric"]) or {
            "slug": result["metric"],
            "name": result["metric"],
            "type": result["details"].get("metric_type", "mean"),
            "direction": result["details"].get("direction", "up"),
            "unit": "",
        }
        details = result["details"]
        shown.append(
            {
                **result,
                "name": metric["name"],
                "unit": shown_unit(metric["unit"], metric["type"], metric.get("rate_per")),
                "metric_type": metric["type"],
                "direction": metric["direction"],
                "kind": effect_kind(result, metric["unit"]),
                "sequential": sequential_interval(result),
                "p_value_holm": details.get("p_value_holm"),
                "holm_downgraded": bool(details.get("holm_downgraded")),
                "concern": details.get("balancing_concern"),
                "dropped_in_version": details.get("dropped_in_version"),
                "chart": chart_for(result, metric, start, cycles),
            }
        )
        shown[-1]["digits"] = effect_digits(shown[-1], shown[-1]["kind"])
    # the history in the cards' order (primary first), not in the order metrics were added
    order = {result["metric"]: k for k, result in enumerate(look["results"])}
    looks = history(db, pilot["id"], metrics, history_limit)
    return {
        **look,
        "results": shown,
        "history": sorted(looks, key=lambda entry: order.get(entry["metric"], len(order))),
    }


def history(db, pilot_id: int, metrics: dict[str, dict], limit: int = 24) -> list[dict]:
    """Per metric, how the estimate and its intervals moved look by look (oldest first)."""
    looks = list(reversed(evaluation_history(db, pilot_id, limit=limit)))
    out: dict[str, dict] = {}
    for look in looks:
        for row in look["results"]:
            entry = out.setdefault(
                row["metric"],
                {
                    "metric": row["metric"],
                    "name": (metrics.get(row["metric"]) or {}).get("name", row["metric"]),
                    "looks": [],
                },
            )
            entry["looks"].append(
                {
                    "as_of": look["as_of"],
                    "scheduled": look["scheduled"],
                    "preview": look["preview"],
                    **{k: row[k] for k in row if k not in ("metric", "dropped")},
                }
            )
    return list(out.values())


# ---- many pilots: the analyst's overview ------------------------------------------------


def relative_effect(row: dict) -> tuple[float | None, float | None, float | None]:
    """The effect and its interval in percent of a reference level (see the module doc)."""
    details = row["details"]
    estimate, low, high = row["estimate"], row["ci_low"], row["ci_high"]
    if estimate is None:
        return None, None, None
    if details.get("scale") == "log":
        return tuple(None if v is None else 100 * (v - 1) for v in (estimate, low, high))
    if "relative_lift" in details and details.get("relative_lift") is not None:
        low, high = _lift_interval(details)
        return 100 * details["relative_lift"], _times(low, 100), _times(high, 100)
    reference = _reference(row)
    if not reference:
        return None, None, None
    scale = 100 / abs(reference)
    return _times(estimate, scale), _times(low, scale), _times(high, scale)


def _lift_interval(details: dict) -> tuple[float | None, float | None]:
    """The relative lift's interval on the log scale of the ratio 1 + lift.

    The engine's interval (lift +- q se, the delta method as STATS.md fixes it) is
    symmetric, so with a small reference level it can reach below -100 %, which no
    share, rate or count can fall by, and cross 0 when the absolute difference is
    clearly positive. The same standard error on the log scale (se / (1 + lift), the
    delta method for log(1 + lift)) and the same quantile q give an interval that stays
    above -100 % and is the usual one for a ratio. A lift of -100 % or below (a
    reference of the other sign) keeps the engine's interval.
    """
    lift, se = details["relative_lift"], details.get("relative_lift_se")
    low, high = details.get("relative_lift_ci_low"), details.get("relative_lift_ci_high")
    if low is None or high is None or not se or lift <= -1:
        return low, high
    ratio = 1 + lift
    quantile = (high - lift) / se
    spread = quantile * se / ratio
    return ratio * math.exp(-spread) - 1, ratio * math.exp(spread) - 1


def _times(value, factor):
    return None if value is None else value * factor


def _reference(row: dict) -> float | None:
    details = row["details"]
    design = row["design"]
    if design == "spc":
        return details.get("mean")
    if design == "did":
        return (details.get("cell_means") or {}).get("pilot_pre")
    if design == "pre_post":
        series = [c for c in details.get("series") or [] if c["arm"] == "pilot"]
        start = row.get("start_date")
        if series and start:
            fitted = _fitted(
                [c["period"] for c in series], [c["value"] for c in series], details, start
            )
            if fitted:
                before = [v for v in fitted["pre"] if v is not None]
                after = [v for v in fitted["post"] if v is not None]
                if after and details.get("level_change") is not None:
                    return after[0] - details["level_change"]
                if before:
                    return before[-1]
            pre = [c["value"] for c in series if c["period"] < start]
            if pre:
                return sum(pre) / len(pre)
    if design == "two_group":
        for key in ("proportion_comparison", "mean_comparison", "rate_comparison"):
            if details.get(key) is not None:
                return details[key]
    return None


def overview(
    db,
    *,
    unit_id: int | None = None,
    design: str = "",
    status: str = "",
    metric_id: int | None = None,
    primary_only: bool = True,
    limit: int | None = None,
) -> list[dict]:
    """The latest stored result of every approved pilot (never drafts), filtered.

    One row per pilot and metric (the primary metric only, unless `primary_only` is
    False or a metric is chosen), with the relative effect for the forest plot.
    """
    where = ["p.status IN ({})".format(",".join("?" * len(OVERVIEW_STATUSES)))]
    params: list = list(OVERVIEW_STATUSES)
    if status in OVERVIEW_STATUSES:
        where.append("p.status = ?")
        params.append(status)
    if design:
        where.append("p.design = ?")
        params.append(design)
    if unit_id:
        where.append(
            """p.team_id IN (WITH RECURSIVE below(id) AS (SELECT ? UNION ALL
               SELECT u.id FROM unit u JOIN below b ON u.parent_id = b.id) SELECT id FROM below)"""
        )
        params.append(unit_id)
    if metric_id:
        where.append("e.metric_id = ?")
        params.append(metric_id)
    elif primary_only:
        where.append("e.role = 'primary'")
    sql = f"""
        SELECT p.id AS pilot_id, p.title, p.status, p.design AS pilot_design, p.start_date,
               p.end_date, u.name AS team_name, m.slug AS metric, m.name AS metric_name,
               m.unit AS metric_unit, m.type AS metric_type, m.direction, m.rate_per,
               e.as_of, e.preview, e.scheduled, e.dropped_in_version, e.role, e.design,
               e.method, e.estimate, e.ci_low, e.ci_high, e.p_value, e.n_pilot,
               e.n_comparison, e.probability_improved, e.verdict, e.summary, e.details,
               e.warnings, e.computed_at
        FROM pilot p
        JOIN unit u ON u.id = p.team_id
        JOIN evaluation e ON e.pilot_id = p.id
             AND e.as_of = (SELECT max(as_of) FROM evaluation WHERE pilot_id = p.id)
        JOIN metric m ON m.id = e.metric_id
        WHERE {" AND ".join(where)}
        ORDER BY u.name, p.title, p.id,
                 CASE e.role WHEN 'primary' THEN 0 WHEN 'secondary' THEN 1 ELSE 2 END, m.slug
    """  # noqa: S608 - the clauses are constants; values are parameters
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    rows = []
    for row in db.query(sql, params):
        row["summary"] = json.loads(row["summary"])
        row["details"] = json.loads(row["details"])
        row["warnings"] = json.loads(row["warnings"])
        row["kind"] = effect_kind(row, row.get("metric_unit"))
        row["metric_unit"] = shown_unit(row["metric_unit"], row["metric_type"], row["rate_per"])
        row["relative"] = relative_effect(row)
        row["sequential"] = sequential_interval(row)
        row["digits"] = effect_digits(row, row["kind"])
        rows.append(row)
    return rows


EXPORT_COLUMNS = (
    "pilot_id",
    "pilot",
    "team",
    "status",
    "metric",
    "unit",
    "role",
    "design",
    "method",
    "as_of",
    "preview",
    "scheduled",
    "dropped_in_version",
    "verdict",
    "estimate",
    "ci_low",
    "ci_high",
    "sequential_ci_low",
    "sequential_ci_high",
    "p_value",
    "p_value_holm",
    "probability_improved",
    "n_pilot",
    "n_comparison",
    "relative_effect_percent",
    "relative_ci_low_percent",
    "relative_ci_high_percent",
    "summary_nb",
    "summary_en",
)
TEXT_COLUMNS = {
    "pilot",
    "team",
    "status",
    "metric",
    "unit",
    "role",
    "design",
    "method",
    "as_of",
    "verdict",
    "summary_nb",
    "summary_en",
}


def export_row(row: dict) -> dict:
    """One overview row in the export's columns (numbers as numbers, None as empty)."""
    sequential = row["sequential"] or (None, None)
    return {
        "pilot_id": row["pilot_id"],
        "pilot": row["title"],
        "team": row["team_name"],
        "status": row["status"],
        "metric": row["metric"],
        "unit": row["metric_unit"] or "",
        "role": row["role"],
        "design": row["design"],
        "method": row["method"],
        "as_of": row["as_of"],
        "preview": int(row["preview"]),
        "scheduled": int(row["scheduled"]),
        "dropped_in_version": row["dropped_in_version"],
        "verdict": row["verdict"],
        "estimate": row["estimate"],
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "sequential_ci_low": sequential[0],
        "sequential_ci_high": sequential[1],
        "p_value": row["p_value"],
        "p_value_holm": row["details"].get("p_value_holm"),
        "probability_improved": row["probability_improved"],
        "n_pilot": row["n_pilot"],
        "n_comparison": row["n_comparison"],
        "relative_effect_percent": row["relative"][0],
        "relative_ci_low_percent": row["relative"][1],
        "relative_ci_high_percent": row["relative"][2],
        "summary_nb": (row["summary"] or {}).get("nb", ""),
        "summary_en": (row["summary"] or {}).get("en", ""),
    }


# ---- a leader's reach: portfolio and signals ----------------------------------------------

_REACH = """WITH RECURSIVE reach(id) AS (
                SELECT unit_id FROM role WHERE user_id = :leader AND role = 'leader'
                UNION SELECT u.id FROM unit u JOIN reach r ON u.parent_id = r.id)"""


def portfolio_counts(db, leader_id: int) -> list[dict]:
    """Pilots in the leader's units, counted by unit and status (drafts left out)."""
    return list(
        db.query(
            f"""{_REACH}
                SELECT u.id AS unit_id, u.name AS unit_name, p.status, count(*) AS n
                FROM pilot p JOIN unit u ON u.id = p.team_id
                WHERE p.team_id IN (SELECT id FROM reach) AND p.status != 'draft'
                GROUP BY u.id, p.status ORDER BY u.name""",  # noqa: S608 - constant
            {"leader": leader_id},
        )
    )


def signals_since(db, leader_id: int, since: str | None, limit: int = 50) -> list[dict]:
    """Results stored since `since` that say something, for pilots in the leader's units:
    an improvement or a worsening, or a balancing concern. Only each pilot's latest look
    counts (a later look supersedes an earlier one); balancing concerns come first.

    The concern is read from columns, as `pilots.stats.several` decides it (worsened:
    clear; a chance of harm of 80 % or more: possible), so no JSON is parsed per row.
    """
    return list(
        db.query(
            f"""{_REACH}
                SELECT * FROM (
                  SELECT e.pilot_id, p.title, p.status, u.name AS team_name, m.slug AS metric,
                         m.name AS metric_name, e.role, e.verdict, e.as_of, e.computed_at,
                         e.preview,
                         CASE WHEN e.role != 'balancing' THEN NULL
                              WHEN e.verdict = 'worsened' THEN 'clear'
                              WHEN e.probability_improved <= 0.2 THEN 'possible' END AS concern
                  FROM pilot p
                  JOIN unit u ON u.id = p.team_id
                  JOIN evaluation e ON e.pilot_id = p.id AND e.as_of =
                       (SELECT max(as_of) FROM evaluation WHERE pilot_id = p.id)
                  JOIN metric m ON m.id = e.metric_id
                  WHERE p.team_id IN (SELECT id FROM reach) AND p.status != 'draft'
                    AND e.computed_at > :since
                )
                WHERE verdict IN ('improved', 'worsened') OR concern IS NOT NULL
                ORDER BY concern IS NULL, role != 'balancing', verdict != 'worsened', title
                LIMIT :limit""",  # noqa: S608 - constant
            {"leader": leader_id, "since": since or "", "limit": limit},
        )
    )


def decisions_due(db, leader_id: int, today: date) -> list[dict]:
    """Pilots in the leader's units past their end date without a decision."""
    return list(
        db.query(
            f"""{_REACH}
                SELECT p.id, p.title, p.status, p.end_date, u.name AS team_name
                FROM pilot p JOIN unit u ON u.id = p.team_id
                WHERE p.team_id IN (SELECT id FROM reach)
                  AND p.status IN ('approved', 'running', 'paused')
                  AND p.end_date IS NOT NULL AND p.end_date < :today
                  AND p.decision IS NULL
                ORDER BY p.end_date""",  # noqa: S608 - constant
            {"leader": leader_id, "today": today.isoformat()},
        )
    )


def record_visit(
    db, user_id: int, page: str, now: str, session_gap_minutes: int = 60
) -> str | None:
    """Note that the person looked at `page` now; return when they looked before.

    "Before" is the start of the previous sitting: visits with less than
    `session_gap_minutes` between them count as one, so reloading the page does not empty "new
    since your last visit".
    """
    with db.atomic():
        row = next(
            db.query(
                "SELECT previous_at, current_at FROM page_visit WHERE user_id = ? AND page = ?",
                [user_id, page],
            ),
            None,
        )
        if row is None:
            db.execute(
                "INSERT INTO page_visit (user_id, page, previous_at, current_at) VALUES (?, ?, NULL, ?)",  # noqa: E501
                [user_id, page, now],
            )
            return None
        current = datetime.fromisoformat(row["current_at"].replace("Z", "+00:00"))
        moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
        new_sitting = (moment - current).total_seconds() > session_gap_minutes * 60
        previous = row["current_at"] if new_sitting else row["previous_at"]
        db.execute(
            "UPDATE page_visit SET previous_at = ?, current_at = ? WHERE user_id = ? AND page = ?",
            [previous, now, user_id, page],
        )
        return previous
