"""Norwegian and English: chosen from the browser, switchable, remembered per person;
Norwegian dates as DD.MM.YYYY with a decimal comma; Oslo time shown, UTC stored."""

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as babel_format_decimal

from pilots.web.i18n import format_day, format_moment, format_number


def test_the_browser_language_decides_before_sign_in(client):
    assert "Logg inn" in client.get("/login", headers={"Accept-Language": "nb-NO"}).text
    assert "Logg inn" in client.get("/login", headers={"Accept-Language": "no"}).text
    assert "Sign in" in client.get("/login", headers={"Accept-Language": "en-GB"}).text
    assert 'lang="en"' in client.get("/login", headers={"Accept-Language": "en"}).text


def test_the_chosen_language_is_remembered_for_the_person(app, auth, client, db):
    auth.login()
    auth.post("/language", {"language": "en", "next": "/"})
    stored = next(db.query("SELECT language FROM users WHERE email = 'admin@fjordvik.example'"))
    assert stored["language"] == "en"
    other = app.test_client()
    from sessions import Auth

    Auth(other).login()
    # A new browser that asks for Norwegian still gets the person's choice.
    assert "Welcome" in other.get("/", headers={"Accept-Language": "nb"}).text


@pytest.mark.parametrize(
    ("language", "day", "number"),
    [("nb", "26.11.2026", "1\xa0234,5"), ("en", "26 Nov 2026", "1,234.5")],
)
def test_dates_and_numbers_follow_the_language(app, language, day, number):
    with app.test_request_context(headers={"Accept-Language": language}):
        assert format_day("2026-11-26") == day
        assert format_number(1234.5) == number


NUMBERS = [0, -0.0, 0.5, 1.5, 2.5, -2.5, 0.125, 2.675, 999.995, -999.995, -0.001, 1e-9]
NUMBERS += [1234.5, -1234567.891, 10**15 + 0.5, 123456789012345678, 1e22, 10**30 + 1]
NUMBERS += [Decimal("1.005"), Decimal("-0.0049"), 7, -12, float("inf"), float("nan")]


def _outcome(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except ArithmeticError as error:  # Babel cannot round 10**30 to 2 decimals either
        return type(error)


@pytest.mark.parametrize("language", ["nb", "en"])
def test_numbers_are_formatted_exactly_as_babel_does(app, language):
    # format_number skips Babel's per-call pattern and locale parsing; what it writes
    # must not change: rounding half to even, the sign of a value rounding to zero,
    # grouping, and Babel itself for what is out of the ordinary.
    rng = random.Random(7)
    values = NUMBERS + [rng.uniform(-1, 1) * 10 ** rng.randint(-6, 12) for _ in range(3000)]
    with app.test_request_context(headers={"Accept-Language": language}):
        for value in values:
            for digits in (0, 1, 2, 3):
                pattern = "#,##0" + ("." + "0" * digits if digits else "")
                assert _outcome(format_number, value, digits) == _outcome(
                    babel_format_decimal, value, format=pattern, locale=language
                ), (value, digits)


def test_times_are_shown_in_oslo_time(app):
    with app.test_request_context(headers={"Accept-Language": "nb"}):
        # 23:30 UTC in winter is 00:30 the next day in Oslo (UTC+1) ...
        assert format_moment("2026-11-26T23:30:00Z") == "27.11.2026 00:30"
        # ... and in summer Oslo is UTC+2.
        assert format_moment(datetime(2026, 7, 1, 10, 0, tzinfo=UTC)) == "01.07.2026 12:00"


def test_every_message_has_a_norwegian_translation_and_the_catalogue_is_compiled():
    base = "pilots/translations/nb/LC_MESSAGES/messages"
    with open(base + ".po", "rb") as po_file:
        catalogue = read_po(po_file)
    with open(base + ".mo", "rb") as mo_file:
        compiled = read_mo(mo_file)
    untranslated = [
        m.id
        for m in catalogue
        if m.id and not (all(m.string) if isinstance(m.string, tuple | list) else m.string)
    ]
    assert untranslated == []

    def entries(messages):
        def frozen(value):
            return tuple(value) if isinstance(value, list | tuple) else value

        return {frozen(m.id): frozen(m.string) for m in messages if m.id}

    assert entries(catalogue) == entries(compiled), (
        "run `make translations` (pybabel compile) after editing the .po file"
    )


def test_every_translatable_string_in_the_code_is_in_the_catalogue():
    from babel.messages.extract import extract_from_dir

    with open("pilots/translations/nb/LC_MESSAGES/messages.po", "rb") as po_file:
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(po_file) if m.id}
    method_map = [("pilots/**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for directory in (".",):
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
            directory,
            method_map=method_map,
            keywords={
                "_": None,
                "gettext": None,
                "ngettext": (1, 2),
                "DomainError": (1,),
                "_l": None,
                "translatable": None,
            },
        ):
            found.add(message if isinstance(message, str) else message[0])
    missing = sorted(found - known)
    assert missing == [], "run `make translations` and translate: " + repr(missing[:5])
