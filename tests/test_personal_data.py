"""The personal-data guard, without Flask: identity numbers by their control digits and
dates, phone numbers, e-mail and street addresses refused; likely names warned.

Norwegian numbers follow Skatteetaten's description of the fødselsnummer (two mod-11
control digits, weights 3 7 6 1 8 9 4 5 2 and 5 4 3 2 7 6 5 4 3 2; D-numbers add 4
to the first digit of the day, H-numbers to the first digit of the month). The
numbers below were computed by hand from those weights. Swedish numbers follow
Skatteverket's SKV 704 (Luhn check digit); 811218-9876 is the textbook example and
19121212-1212 Skatteverket's test person "Tolvan Tolvansson".
"""

import pytest

from pilots.domain import personal_data as guard
from pilots.domain.personal_data import PersonalDataError, check, find

VALID_NORWEGIAN = [
    "01019012480",  # fødselsnummer, 1 January 1990
    "15076500565",  # the classic example, 15 July 1965
    "41019012393",  # D-number (day 01 + 40)
    "01419012382",  # H-number (month 01 + 40)
    "29020051386",  # 29 February 2000 (individual number 513 -> born 2000, a leap year)
]
NOT_NORWEGIAN = [
    "01019012481",  # second control digit wrong
    "01019012580",  # first control digit wrong
    "12345678901",  # an ordinary 11-digit number
    "31029012302",  # control digits fine, but 31 February does not exist
    "29020151216",  # control digits fine, but 2001 was not a leap year
]


@pytest.mark.parametrize("number", VALID_NORWEGIAN)
def test_valid_norwegian_identity_numbers_are_recognised(number):
    assert guard.is_norwegian_id(number)
    text = f"Hun ga oss nummeret {number} i samtalen."
    assert [f.kind for f in find(text)] == ["national_id"]
    spaced = f"nummer {number[:6]} {number[6:]}."
    assert [f.text for f in find(spaced)] == [f"{number[:6]} {number[6:]}"]


@pytest.mark.parametrize("number", NOT_NORWEGIAN)
def test_ordinary_eleven_digit_numbers_pass(number):
    assert not guard.is_norwegian_id(number)
    assert find(f"Saksnummer {number} i arkivet.") == []


@pytest.mark.parametrize("text", ["811218-9876", "19121212-1212", "191212121212", "8112189876"])
def test_swedish_personal_identity_numbers_are_refused(text):
    assert [f.kind for f in find(f"personnummer {text} fanns i ärendet")] == ["swedish_id"]


@pytest.mark.parametrize("text", ["811218-9875", "811318-9876", "19121212-1213"])
def test_swedish_lookalikes_with_a_wrong_check_digit_or_date_pass(text):
    assert find(f"ärende {text}") == []


@pytest.mark.parametrize(
    "text",
    [
        "912 34 567",
        "91234567",
        "22 12 34 56",
        "+47 912 34 567",
        "+4791234567",
        "0047 22 12 34 56",
        "070-123 45 67",
        "+46 70 123 45 67",
        "08-123 456 78",
    ],
)
def test_phone_numbers_are_refused(text):
    findings = find(f"Ring meg på {text} i morgen")
    assert [f.kind for f in findings] == ["phone"]
    assert findings[0].text == text


@pytest.mark.parametrize(
    "text",
    [
        "Det kostet 45 000 000 kroner",
        "Vi ventet 12 måneder",
        "i 2023-2024",
        "kl. 12.30",
        "1234 5678",  # starts with 1: no Norwegian number does
        "Budsjettet er 1 234 567,50",
    ],
)
def test_numbers_that_are_not_phone_numbers_pass(text):
    assert find(text) == []


def test_email_addresses_are_refused():
    assert [f.text for f in find("skriv til ola.nordmann+x@eksempel.no, takk")] == [
        "ola.nordmann+x@eksempel.no"
    ]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Hun bor i Storgata 12B nå", "Storgata 12B"),
        ("adresse: Kirkeveien 5", "Kirkeveien 5"),
        ("på Karl Johans gate 22 i Oslo", "Karl Johans gate 22"),
        ("Drammensveien 1, 0271 Oslo", "Drammensveien 1"),
        ("Han bor på Åsgårdstunet 3", "Åsgårdstunet 3"),
        ("Sveavägen 44 i Stockholm", "Sveavägen 44"),
    ],
)
def test_street_addresses_with_a_house_number_are_refused(text, address):
    assert [(f.kind, f.text) for f in find(text)] == [("address", address)]


@pytest.mark.parametrize(
    "text", ["på veien 3 ganger", "Storgata er stengt", "Hun bor i sentrum", "gata var full"]
)
def test_streets_without_a_house_number_pass(text):
    assert find(text) == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Kari fortalte at hun ventet", "Kari"),
        ("Vi møtte Ole Hansen i går", "Ole Hansen"),
        ("snakket med fru Berg", "fru Berg"),
        ("Øystein ville ikke", "Øystein"),
        # common given names that an earlier list missed
        ("Ola ringte tre ganger", "Ola"),
        ("Hun sa at Ragnhild hjalp", "Ragnhild"),
        ("etter at Håkon flyttet", "Håkon"),
        ("Kristine ville ha svar", "Kristine"),
    ],
)
def test_likely_names_are_a_warning_not_a_refusal(text, name):
    findings = find(text)
    assert [(f.kind, f.text, f.refused) for f in findings] == [("name", name, False)]


@pytest.mark.parametrize(
    "text", ["Tom for mat etter tre dager", "Dag for dag ble det bedre", "Finn en ny vei"]
)
def test_everyday_words_that_are_also_names_do_not_warn(text):
    assert find(text) == []


def test_check_refuses_and_names_every_field_at_fault():
    fields = {"title": "Ventet lenge", "account": "Ring 912 34 567 eller kari@x.no"}
    with pytest.raises(PersonalDataError) as caught:
        check(fields)
    error = caught.value
    assert error.field == "account"
    assert [f.kind for f in error.findings["account"]] == ["phone", "email"]
    assert "title" not in error.findings
    assert not error.needs_confirmation_only
    reasons = error.reasons()
    assert reasons[0]["field"] == "account" and "912 34 567" in reasons[0]["message"]


def test_names_pass_once_confirmed_but_refusals_do_not():
    with pytest.raises(PersonalDataError) as caught:
        check({"account": "Kari ville ha bolig"})
    assert caught.value.needs_confirmation_only
    check({"account": "Kari ville ha bolig"}, names_confirmed=True)  # no error
    with pytest.raises(PersonalDataError):
        check({"account": "Kari, tlf 912 34 567"}, names_confirmed=True)


def test_clean_text_passes():
    check(
        {
            "account": "Jeg ventet tre måneder på bolig. Ingen spurte hva jeg trengte. "
            "Det kostet 45 000 kroner i måneden på hospits, og saken har nr. 12345678901."
        }
    )


def test_segments_cut_text_for_safe_marking():
    text = "<b>Ring</b> 912 34 567 nå"
    findings = find(text)
    assert guard.segments(text, findings) == [
        ("<b>Ring</b> ", None),
        ("912 34 567", "phone"),
        (" nå", None),
    ]
