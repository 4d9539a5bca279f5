"""Language and formats: Norwegian bokmål and English, Europe/Oslo time, UTC stored.

The language is the signed-in person's choice, else the one picked in this
browser, else the best match of the browser's Accept-Language, else Norwegian.
Norwegian dates read DD.MM.YYYY and numbers use a decimal comma.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.numbers import format_decimal as babel_format_decimal
from babel.numbers import get_decimal_symbol, get_group_symbol
from flask import current_app, g, has_request_context, request, session
from flask_babel import Babel, get_locale, get_translations
from flask_babel import gettext as _
from flask_login import current_user
from jinja2 import pass_eval_context
from markupsafe import Markup

from pilots.db import from_utc_text
from pilots.numbers import decimal_text

LANGUAGES = {"nb": "Norsk (bokmål)", "en": "English"}
# Browsers in Norway may say "no" or "nn"; both are best served in bokmål here.
_BROWSER_ALIASES = {"no": "nb", "nn": "nb", "nb": "nb", "en": "en"}


def select_language() -> str:
    if current_user and current_user.is_authenticated and current_user.language:
        return current_user.language
    if session.get("language") in LANGUAGES:
        return session["language"]
    for value, _quality in request.accept_languages:
        primary = value.split("-")[0].split("_")[0].lower()
        if primary in _BROWSER_ALIASES:
            return _BROWSER_ALIASES[primary]
    return current_app.config["DEFAULT_LANGUAGE"]


def _locale() -> str:
    # Asked for by every label, date and number of a page; Flask-Babel keeps the
    # request's locale too, but reaching it (and naming it) costs more than the lookup.
    if not has_request_context():
        return str(get_locale() or "nb")
    language = request.environ.get("pilots.language")
    if language is None:
        language = request.environ["pilots.language"] = str(get_locale() or "nb")
    return language


def reader_language() -> str:
    """The language this request is answered in: "nb" or "en"."""
    return _locale()


def _as_moment(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        return from_utc_text(value)
    return value


def format_day(value) -> str:
    """A date: 26.11.2026 in Norwegian, 26 Nov 2026 in English."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if _locale() == "nb":
        return value.strftime("%d.%m.%Y")
    return babel_format_date(value, "d MMM y", locale="en")


def format_moment(value) -> str:
    """A stored UTC moment shown in Oslo time, with the zone named."""
    moment = _as_moment(value)
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))
    if _locale() == "nb":
        return local.strftime("%d.%m.%Y %H:%M")
    return babel_format_datetime(local, "d MMM y HH:mm", locale="en")


def format_number(value, digits: int = 1) -> str:
    """A number with the language's decimal mark: 1 234,5 or 1,234.5.

    Exactly what Babel's `format_decimal(value, "#,##0.0…")` gives (the same Decimal
    steps: half-even rounding, the sign kept on a value that rounds to zero), without
    parsing the pattern and the locale again for each of the hundreds of numbers in a
    results table. Anything unusual (infinities, very long numbers) goes to Babel.
    """
    if value is None:
        return ""
    language = _locale()
    text = decimal_text(value, digits, *_number_symbols(language))
    if text is None:
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return babel_format_decimal(value, format=pattern, locale=language)
    return text


_NUMBER_SYMBOLS: dict[str, tuple[str, str]] = {}


def _number_symbols(language: str) -> tuple[str, str]:
    """The decimal and group marks of a language, from Babel's data (read once)."""
    if language not in _NUMBER_SYMBOLS:
        _NUMBER_SYMBOLS[language] = (
            get_decimal_symbol(language),
            get_group_symbol(language),
        )
    return _NUMBER_SYMBOLS[language]


def format_input_number(value) -> str:
    """A number to put back in a form field: the reader's decimal mark, no grouping.

    Text the person typed (a form sent back with an error) is shown as typed. A number
    with exactly three decimals gets a fourth (1,1250), as in exports: "1,125" could be
    read as 1125, and the form would refuse it when saved unchanged.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        language = _locale()
        text = babel_format_decimal(value, format="0.##########", locale=language)
        whole, _mark, fraction = text.lstrip("-").partition(_number_symbols(language)[0])
        if len(fraction) == 3 and whole != "0" and len(whole) <= 3:
            text += "0"
        return text
    return value if isinstance(value, str) else ""


def role_label(code: str) -> str:
    labels = {
        "frontline": _("Frontline"),
        "leader": _("Leader"),
        "analyst": _("Analyst"),
        "case_handler": _("Case handler"),
        "admin": _("Administrator"),
    }
    return labels.get(code, code)


def kind_label(code: str) -> str:
    labels = {
        "municipality": _("Municipality"),
        "sector": _("Sector"),
        "service": _("Service"),
        "team": _("Team"),
    }
    return labels.get(code, code)


def _labels() -> dict[str, dict[str, str]]:
    return {
        "status": {
            "draft": _("Draft"),
            "submitted": _("Waiting for approval"),
            "approved": _("Approved"),
            "running": _("Running"),
            "paused": _("Paused"),
            "stopped": _("Stopped"),
            "concluded": _("Concluded"),
        },
        "design": {
            "spc": _("Run chart (SPC)"),
            "pre_post": _("Before and after"),
            "two_group": _("Two groups"),
            "did": _("Two groups, before and after"),
        },
        "metric_role": {
            "primary": _("Primary"),
            "secondary": _("Secondary"),
            "balancing": _("Balancing"),
        },
        "metric_type": {
            "mean": _("Average"),
            "proportion": _("Share (proportion)"),
            "rate": _("Count per exposure (rate)"),
        },
        "direction": {"up": _("Higher is better"), "down": _("Lower is better")},
        "period": {
            "day": _("Day"),
            "week": _("Week"),
            "month": _("Month"),
            "quarter": _("Quarter"),
            "year": _("Year"),
        },
        "cadence": {"weekly": _("Weekly"), "monthly": _("Monthly"), "custom": _("Custom")},
        "decision": {"adopt": _("Adopt"), "adapt": _("Adapt"), "abandon": _("Abandon")},
        "risk": {
            "medication": _("Involves medication"),
            "legal_rights": _("Affects legal rights or formal decisions"),
            "sensitive_data": _("Uses sensitive personal data beyond the usual"),
            "physical_safety": _("Risk to physical safety"),
            "children": _("Involves children"),
        },
        "plan_field": {
            "title": _("Title"),
            "hypothesis": _("Hypothesis"),
            "prediction": _("Prediction"),
            "stop_doing": _("What we stop doing"),
            "scope": _("Who, where and how many"),
            "citizens_involved": _("Citizens involved"),
            "cost": _("Extra cost (NOK)"),
            "risk_flags": _("Risks"),
            "start_date": _("Start date"),
            "end_date": _("End date"),
            "design": _("Design"),
            "baseline": _("Baseline"),
            "comparison": _("Comparison group"),
            "planned_n": _("Planned size"),
            "cadence": _("How often results are evaluated"),
            "cadence_rule": _("Custom rhythm"),
            "metrics": _("Metrics"),
        },
        "action": {
            "pilot.create": _("created the pilot"),
            "pilot.edit": _("edited the plan"),
            "pilot.submit": _("submitted the plan"),
            "pilot.withdraw": _("took the plan back to draft"),
            "pilot.approve": _("approved the plan"),
            "pilot.return": _("returned the plan with comments"),
            "pilot.object": _("objected to automatic approval"),
            "pilot.amend": _("proposed an amendment"),
            "pilot.amendment_approve": _("approved the amendment"),
            "pilot.start": _("started the pilot"),
            "pilot.pause": _("paused the pilot"),
            "pilot.resume": _("resumed the pilot"),
            "pilot.stop": _("stopped the pilot"),
            "pilot.conclude": _("concluded the pilot"),
            "pilot.cycle_add": _("started a PDSA cycle"),
            "pilot.cycle_update": _("updated a PDSA cycle"),
            "pilot.evaluate": _("evaluated the results"),
            "observations.import": _("stored data"),
            "observations.preview": _("checked a data file"),
        },
        "method": {
            "welch_t": _("Welch's t-test for the difference in averages"),
            "welch_t_cuped": _("Welch's t-test, adjusted for the same people's values before"),
            "relative_lift_delta": _("relative difference (delta method)"),
            "newcombe_diff": _("difference in shares with Newcombe's interval"),
            "poisson_score_ratio": _("rate ratio with the Poisson score test"),
            "its_ols_hac": _("interrupted time series (segmented regression)"),
            "its_poisson_hac": _("interrupted time series for counts (Poisson)"),
            "spc_xmr": _("run chart with control limits (XmR)"),
            "did_cluster": _("difference in differences, errors clustered by unit"),
            "did_permutation": _("difference in differences, permutation test"),
            "did_placebo": _("difference in differences, placebo test"),
            # A method that could not answer keeps the design's plain name.
            "did": _("difference in differences"),
            "xmr": _("run chart with control limits (XmR)"),
        },
        "inference": {
            "cluster": _("clustered by unit"),
            "permutation": _("permutation"),
            "placebo": _("placebo"),
        },
        "verdict": {
            "improved": _("Improved"),
            "worsened": _("Worsened"),
            "no_clear_change": _("No clear change"),
            "insufficient_data": _("Not enough data"),
        },
        "version_state": {
            "proposed": _("Waiting for approval"),
            "approved": _("Approved"),
            "returned": _("Returned"),
            "withdrawn": _("Withdrawn"),
        },
    }


def _label_table() -> dict[str, dict[str, str]]:
    """Every label in the reader's language, translated once per process and language.

    A page asks for dozens of labels and each build translates all of them (about 100
    strings, 4 ms), while the words only change with the language.
    """
    language = _locale()
    table = g.get("_labels")
    if table is None or table[0] != language:
        kept = current_app.extensions.setdefault("pilots.labels", {})
        if language not in kept:
            kept[language] = _labels()
        table = g._labels = (language, kept[language])
    return table[1]


def label(kind: str, code) -> str:
    """The reader's word for a stored code (a status, a design, a role ...)."""
    if code is None:
        return ""
    return _label_table().get(kind, {}).get(code, str(code))


def _request_translations():
    """The catalogue for this request, looked up once (Flask-Babel looks it up per string)."""
    translations = g.get("_translations")
    if translations is None:
        translations = g._translations = get_translations()
    return translations


def _template_gettext(string: str) -> str:
    return _request_translations().ugettext(string)


def _template_ngettext(singular: str, plural: str, number: int) -> str:
    return _request_translations().ungettext(singular, plural, number)


@pass_eval_context
def _kept_template_gettext(eval_context, string: str, /, **variables):
    """`_()` in templates: Jinja's new-style gettext, with each translated string kept.

    The same as Jinja's wrapper around `_template_gettext` (escape, then fill in
    %(name)s, always, so "%%" reads "%"), but a page's forty-odd fixed strings are
    looked up, escaped and formatted once per process and language, not per call.
    """
    if not eval_context.autoescape:
        return _template_gettext(string) % variables
    words = current_app.extensions.setdefault("pilots.template_words", {})
    key = (_locale(), string, bool(variables))
    translated = words.get(key)
    if translated is None:
        translated = Markup(_template_gettext(string))
        if not variables:
            translated = translated % {}
        # The templates' strings are a fixed set; the bound only guards against a
        # template that one day translates text it was given.
        if len(words) < 10_000:
            words[key] = translated
    return translated % variables if variables else translated


def init_app(app) -> None:
    Babel(app, locale_selector=select_language, timezone_selector=lambda: "Europe/Oslo")
    # Templates call gettext dozens of times a page; these skip Flask-Babel's per-call
    # lookups, and `_()` keeps each translated string (Jinja's wrapper, kept).
    app.jinja_env.install_gettext_callables(_template_gettext, _template_ngettext, newstyle=True)
    app.jinja_env.globals["gettext"] = _kept_template_gettext
    app.jinja_env.filters.update(
        day=format_day, moment=format_moment, number=format_number, input_number=format_input_number
    )

    @app.context_processor
    def language_context():
        return {
            "languages": LANGUAGES,
            "current_language": _locale(),
            "role_label": role_label,
            "kind_label": kind_label,
            "label": label,
        }
