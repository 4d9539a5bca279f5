"""The personal-data guard: stories and ideas are de-identified by design.

Every free-text field that the whole organisation reads (stories, ideas, comments,
answers) passes through `check` before it is saved. It refuses national identity
numbers (Norwegian fødselsnummer, D- and H-numbers; Swedish personnummer and
samordningsnummer), phone numbers, e-mail addresses and street addresses with a
house number, and warns about likely personal names, which the author may confirm
are not names of real people. Findings carry their position, so the form can show
the offending text highlighted.

Identity numbers are recognised by their control digits and their date, so an
ordinary 11-digit number (a case or account number) is not flagged:
- Norwegian: Skatteetaten, "Fødselsnummer" (folkeregisteret), two mod-11 control
  digits with weights 3 7 6 1 8 9 4 5 2 and 5 4 3 2 7 6 5 4 3 2; D-numbers add 4 to
  the first digit of the day, H-numbers 4 to the first digit of the month, and the
  synthetic test numbers of Skatteetaten's Tenor add 8 to it.
- Swedish: Skatteverket, "Personnummer" (SKV 704): the tenth digit is a Luhn
  (mod-10) check over YYMMDDNNN; samordningsnummer add 60 to the day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pilots.domain import DomainError

REFUSED = ("national_id", "swedish_id", "phone", "email", "address")
WARNED = ("name",)


@dataclass(frozen=True)
class Finding:
    """One piece of text the guard objects to: where it is and what it looks like."""

    kind: str
    start: int
    end: int
    text: str

    @property
    def refused(self) -> bool:
        return self.kind in REFUSED


def _l(text: str) -> str:
    """Mark `text` for translation; the web layer translates it when it shows it."""
    return text


# What each kind of finding is, and why it may not be saved, in the user's words.
EXPLANATIONS = {
    "national_id": _l(
        "“%(text)s” looks like a Norwegian national identity number (fødselsnummer or "
        "D-number): its control digits and date are valid. Remove it."
    ),
    "swedish_id": _l(
        "“%(text)s” looks like a Swedish personal identity number (personnummer): its "
        "check digit and date are valid. Remove it."
    ),
    "phone": _l("“%(text)s” looks like a phone number. Remove it."),
    "email": _l("“%(text)s” is an e-mail address. Remove it."),
    "address": _l(
        "“%(text)s” looks like a street address with a house number. Say the area instead "
        "(for example “in the city centre”)."
    ),
    "name": _l(
        "“%(text)s” may be a person's name. Remove it, or confirm below that it does not "
        "identify anyone."
    ),
}


class PersonalDataError(DomainError):
    """Saving was refused (or needs confirmation): `findings` maps field -> findings."""

    def __init__(self, findings: dict[str, list[Finding]], texts: dict[str, str]):
        self.needs_confirmation_only = not any(
            f.refused for items in findings.values() for f in items
        )
        if self.needs_confirmation_only:
            message = _l(
                "The text may contain a person's name. Check the highlighted words and "
                "confirm that they do not identify anyone."
            )
        else:
            message = _l(
                "The text looks like it contains personal data. Stories and ideas are read "
                "by the whole organisation and must not identify anyone: remove the "
                "highlighted text."
            )
        super().__init__(message, next(iter(findings)))
        self.findings = findings
        self.texts = texts

    def reasons(self) -> list[dict]:
        """One English (field, message) per finding, as the API reports them."""
        return [
            {"field": field, "kind": f.kind, "message": EXPLANATIONS[f.kind] % {"text": f.text}}
            for field, items in self.findings.items()
            for f in items
        ]


# ---- identity numbers --------------------------------------------------------

_NORWEGIAN_ID = re.compile(r"(?<!\d)(?<!\d[.,])(\d{6})[ -]?(\d{5})(?!\d|[.,]\d)")
_SWEDISH_ID = re.compile(r"(?<!\d)(?<!\d[.,])(\d{2})?(\d{6})([-+ ]?)(\d{4})(?!\d|[.,]\d)")


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _norwegian_century(year2: int, individual: int) -> list[int]:
    """The possible full years from the two-digit year and the individual number."""
    # Skatteetaten's allocation of individual numbers to birth years.
    years = []
    if individual <= 499:
        years.append(1900 + year2)
    if 500 <= individual <= 749 and year2 >= 54:
        years.append(1800 + year2)
    if individual >= 500 and year2 <= 39:
        years.append(2000 + year2)
    if individual >= 900 and year2 >= 40:
        years.append(1900 + year2)
    return years


def is_norwegian_id(digits: str) -> bool:
    """A fødselsnummer, D-number, H-number or Tenor test number with valid control digits."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    d = [int(c) for c in digits]
    k1 = 11 - sum(w * x for w, x in zip((3, 7, 6, 1, 8, 9, 4, 5, 2), d[:9], strict=True)) % 11
    k1 = 0 if k1 == 11 else k1
    k2 = 11 - sum(w * x for w, x in zip((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), d[:10], strict=True)) % 11
    k2 = 0 if k2 == 11 else k2
    if k1 == 10 or k2 == 10 or k1 != d[9] or k2 != d[10]:
        return False
    day, month, year2 = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    if day > 40:  # D-number
        day -= 40
    if month > 80:  # Tenor synthetic test number
        month -= 80
    elif month > 40:  # H-number
        month -= 40
    return any(
        _valid_date(year, month, day) for year in _norwegian_century(year2, int(digits[6:9]))
    )


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(digits):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def is_swedish_id(digits: str, century: str | None = None) -> bool:
    """A personnummer or samordningsnummer (YYMMDDNNNC) with a valid Luhn check digit."""
    if len(digits) != 10 or not digits.isdigit() or not _luhn_ok(digits):
        return False
    year2, month, day = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    if day > 60:  # samordningsnummer
        day -= 60
    years = [int(century) * 100 + year2] if century else [1900 + year2, 2000 + year2]
    return any(_valid_date(year, month, day) for year in years)


# ---- contact details and names ---------------------------------------------

_SEP = r"[ .-]"
_NORWEGIAN_PHONE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)47[ -]?)?"
    rf"(?:[2-9]\d{{7}}|[2-9]\d\d{_SEP}\d\d{_SEP}\d{{3}}|[2-9]\d{_SEP}\d\d{_SEP}\d\d{_SEP}\d\d"
    r"|[2-9]\d{3} \d{4})(?!\d|[.,]\d)"
)
_INTERNATIONAL_PHONE = re.compile(r"(?:\+|00)4[67][ -]?(?:\(0\)[ -]?)?\d(?:[ -]?\d){6,10}(?!\d)")
_SWEDISH_PHONE = re.compile(
    r"(?<![\d+])(?:07[02369][ -]?\d{3}[ ]?\d\d[ ]?\d\d|0[1-9]\d{0,2}-\d{2,3}(?:[ ]?\d{2,3}){1,2})"
    r"(?!\d)"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)

# Norwegian and Swedish street-name endings, followed by a house number (12, 12B, 12 b).
_STREET_ENDINGS = (
    "gata|gaten|gate|gatan|veien|vegen|vei|veg|vägen|väg|allé|alle|alléen|plass|plassen|"
    "torg|torget|torvet|stien|stig|stigen|bakken|brekka|lia|lien|haugen|ringen|svingen|"
    "tunet|kaia|brygga|gränd|gränden|backe|backen|promenaden|løkka|jordet|åsen|tråkket"
)
_ADDRESS = re.compile(
    rf"\b(?:(?:[A-ZÆØÅÄÖ][\w.'-]*\s+){{1,3}}[\w'-]*|[\w'-]+)(?i:{_STREET_ENDINGS})"
    r"\s+\d{1,4}(?:(?:[A-Za-z]|\s[A-Z])(?![\wæøå]))?(?!\d|[.,]\d)"
)

# Common given names in Norway and Sweden (SSB and SCB name statistics), enough to
# catch the usual slip of writing who the citizen is. The author confirms false alarms.
_GIVEN_NAMES = set(
    """
    Ada Adam Ahmed Ali Alexander Amalie Amir Anders Andreas Anette Anita Ann Anna Anne
    Arne Astrid Aud Berit Bjørn Camilla Cecilie Christian Daniel David Elias Elin Elisabeth
    Ella Emil Emilie Emma Erik Eva Filip Fatima Frida Geir Gunnar Hanna Hans Harald Heidi
    Helene Henrik Hilde Ida Inger Ingrid Ivar Jakob Jan Jens Johan Johanne Johannes Jon Jonas
    Jørgen Julie Kari Karin Karl Kjell Knut Kristian Kristin Lars Leah Lea Lena Linn Liv Magnus
    Maja Marcus Mari Maria Marit Marius Markus Martin Martine Mats Mohammed Mohammad Morten
    Muhammad Nils Nina Noah Nora Odd Olav Ole Oliver Olivia Oskar Per Petter Rune Sara Sebastian
    Selma Silje Sigrid Simen Sofie Sofia Solveig Stian Svein Thomas Tor Tone Tove Trond
    Turid Vilde William Wenche Øystein Åse Åsa Sven Sven-Erik Ingvar Gunilla Birgitta Lennart
    Ulla Kerstin Leif Ebba Elsa Alma Hugo Axel Ahmad Yusuf Zainab Aisha Omar Hassan Mariam
    Ola Kåre Terje Steinar Tore Bjarne Roar Frode Espen Eirik Håkon Halvor Torbjørn Sverre
    Vegard Sindre Sondre Eivind Audun Egil Einar Gaute Helge Jostein Kenneth Kristoffer Magne
    Ove Pål Ragnar Rolf Sigurd Torgeir Trygve Vidar Øyvind Åge Arild Asbjørn Atle Erling
    Fredrik Gustav Henning Isak Jacob Joakim Kasper Ludvig Mathias Mikkel Sander Theodor
    Tobias Aksel Lukas Ulrik Vetle Jesper Kristine Marte Ingeborg Hege Randi Bente Grete
    Ragnhild Kjersti Siri Tonje Synnøve Torill Unni Reidun Bodil Britt Else Gerd Hanne Janne
    Karen Laila Lise Monica Trine Vigdis Ellen Elise Ingvild Thea Tiril Tuva Jenny Hedda
    Mia Aurora Frøya Sunniva Malin Maren Oda Guro Agnes Signe Ingunn Torunn Kirsten Margrethe
    Mustafa Abdi Abdullahi Ibrahim Khadija Amina Hamza Yasmin Adrian Viktor Jonathan
    """.split()
)
# Left out on purpose, as they are also everyday words that open a sentence: Dag (day),
# Tom (empty), Finn (find), Stein (stone), Even, Inge.
_NAME_WORD = r"[A-ZÆØÅÄÖ][a-zæøåäöé]+(?:-[A-ZÆØÅÄÖ][a-zæøåäöé]+)?"
_NAME = re.compile(rf"\b({_NAME_WORD})(?:\s+({_NAME_WORD}))?\b")
_SURNAME_ENDINGS = re.compile(r"(?:sen|ssen|son|sson|stad|rud|dottir|dóttir)$")
_TITLED = re.compile(rf"\b(?:[Ff]ru|[Hh]err|[Ff]røken|[Ff]röken)\s+{_NAME_WORD}\b")


def _identity_numbers(text: str) -> list[Finding]:
    found = []
    for match in _NORWEGIAN_ID.finditer(text):
        if is_norwegian_id(match.group(1) + match.group(2)):
            found.append(Finding("national_id", match.start(), match.end(), match.group(0)))
    for match in _SWEDISH_ID.finditer(text):
        century, core, _sep, tail = match.groups()
        # Ten bare digits could be something else; the Luhn digit and a real date
        # together make a false alarm rare.
        if century and century not in ("18", "19", "20"):
            continue
        if is_swedish_id(core + tail, century):
            found.append(Finding("swedish_id", match.start(), match.end(), match.group(0)))
    return found


def _pattern_findings(kind: str, pattern: re.Pattern, text: str) -> list[Finding]:
    return [Finding(kind, m.start(), m.end(), m.group(0)) for m in pattern.finditer(text)]


def _names(text: str) -> list[Finding]:
    found = _pattern_findings("name", _TITLED, text)
    for match in _NAME.finditer(text):
        first, second = match.group(1), match.group(2)
        if first in _GIVEN_NAMES or (second and _SURNAME_ENDINGS.search(second)):
            end = match.end() if second and second[0].isupper() else match.end(1)
            found.append(Finding("name", match.start(), end, text[match.start() : end]))
    return found


def find(text: str) -> list[Finding]:
    """Everything the guard objects to in `text`, in order, without overlaps."""
    if not text:
        return []
    candidates = (
        _identity_numbers(text)
        + _pattern_findings("email", _EMAIL, text)
        + _pattern_findings("phone", _INTERNATIONAL_PHONE, text)
        + _pattern_findings("phone", _NORWEGIAN_PHONE, text)
        + _pattern_findings("phone", _SWEDISH_PHONE, text)
        + _pattern_findings("address", _ADDRESS, text)
        + _names(text)
    )
    # Refusals win over warnings, then the longer match; drop anything overlapping a kept one.
    candidates.sort(key=lambda f: (not f.refused, -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for finding in candidates:
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def check(fields: dict[str, str], names_confirmed: bool = False) -> None:
    """Refuse `fields` (name -> text) holding personal data; names need confirmation.

    Raises `PersonalDataError` naming every field at fault; returns None when clean.
    """
    findings: dict[str, list[Finding]] = {}
    for name, text in fields.items():
        items = find(text or "")
        if names_confirmed:
            items = [f for f in items if f.refused]
        if items:
            findings[name] = items
    if findings:
        raise PersonalDataError(findings, {k: fields[k] or "" for k in findings})


def segments(text: str, findings: list[Finding]) -> list[tuple[str, str | None]]:
    """`text` cut into (piece, kind-or-None), for showing findings marked up safely.

    The template escapes each piece and wraps the flagged ones in <mark>; the user's
    text itself is never trusted as markup.
    """
    pieces, position = [], 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start > position:
            pieces.append((text[position : finding.start], None))
        pieces.append((text[finding.start : finding.end], finding.kind))
        position = finding.end
    if position < len(text):
        pieces.append((text[position:], None))
    return pieces
