"""Reading observation files: formats, the strict rules, error lines and columns, streaming."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook

from pilots.domain.observation_files import (
    FileRefused,
    MetricSpec,
    Observation,
    looks_like_national_id,
    preview,
    read_observations,
    read_records,
)

METRICS = {
    "wait": MetricSpec("mean", 0, 365, "month"),
    "housed": MetricSpec("proportion", 0, 1, "month"),
    "admissions": MetricSpec("rate", None, None, "month"),
    "daily": MetricSpec("mean"),
}


def csv_file(text: str, encoding: str = "utf-8", bom: bool = False) -> io.BytesIO:
    data = text.encode(encoding)
    return io.BytesIO((b"\xef\xbb\xbf" if bom else b"") + data)


def read(text: str, metrics=METRICS, **options) -> list[Observation]:
    return list(read_observations(csv_file(text), metrics, **options))


def refused(text: str | io.BytesIO, metrics=METRICS, **options) -> FileRefused:
    file = csv_file(text) if isinstance(text, str) else text
    with pytest.raises(FileRefused) as caught:
        list(read_observations(file, metrics, **options))
    return caught.value


def codes(refusal: FileRefused) -> list[tuple]:
    return [(e.line, e.column, e.code) for e in refusal.errors]


def xlsx_file(rows, sheets=1) -> io.BytesIO:
    workbook = Workbook()
    workbook.active.title = "data"
    for row in rows:
        workbook.active.append(row)
    for number in range(1, sheets):
        workbook.create_sheet(f"other{number}").append(["nonsense"])
    out = io.BytesIO()
    workbook.save(out)
    out.seek(0)
    return out


# -- formats ---------------------------------------------------------------------------


def test_norwegian_file_with_bom_semicolons_decimal_commas_and_dates():
    text = (
        "metric;period;arm;unit;value;n\r\n"
        "wait;01.01.2026;pilot;P1;12,5;\r\n"
        "daily;01.02.2026;comparison;P2;1 234,5;\r\n"
        "housed;01.02.2026;;P1;3;4\r\n"
        "admissions;2026-03-01;pilot;;2;1.234,5\r\n"
    )
    reader = read_observations(csv_file(text, bom=True), METRICS)
    rows = list(reader)
    assert rows == [
        Observation("wait", "2026-01-01", "pilot", "P1", 12.5, None, 2),
        Observation("daily", "2026-02-01", "comparison", "P2", 1234.5, None, 3),
        Observation("housed", "2026-02-01", "pilot", "P1", 3.0, 4.0, 4),
        Observation("admissions", "2026-03-01", "pilot", "", 2.0, 1234.5, 5),
    ]
    assert reader.file_format() == {
        "kind": "csv",
        "encoding": "utf-8",
        "delimiter": ";",
        "decimal_mark": ",",
    }
    assert reader.header == ["metric", "period", "arm", "unit", "value", "n"]


def test_comma_file_uses_the_decimal_point_and_iso_dates():
    reader = read_observations(
        csv_file('period,value,metric\n2026-01-01,1.5,daily\n2026-02-01,"1,234.5",daily\n'),
        METRICS,
    )
    assert [(r.period, r.value) for r in reader] == [("2026-01-01", 1.5), ("2026-02-01", 1234.5)]
    assert (reader.delimiter, reader.decimal_mark) == (",", ".")


def test_tab_file_with_decimal_point():
    rows = read("metric\tperiod\tvalue\nwait\t01.01.2026\t2.25\nwait\t01.02.2026\t7\n")
    assert [r.value for r in rows] == [2.25, 7.0]


def test_windows_1252_is_read_when_named_and_refused_when_not():
    text = "metric;period;unit;value\nwait;01.01.2026;Bodø-1;3,5\n"
    data = text.encode("windows-1252")
    rows = list(read_observations(io.BytesIO(data), METRICS, encoding="windows-1252"))
    assert rows[0].unit == "Bodø-1"
    refusal = refused(io.BytesIO(data))
    assert codes(refusal) == [(2, None, "encoding")]
    assert "line 2" in refusal.errors[0].text.lower()


def test_invalid_utf8_names_each_bad_line_and_still_reads_the_rest():
    data = b"metric;period;value\nwait;01.01.2026;1\nwait;01.02.2026;\xff\nwait;01.03.2026;x\n"
    assert codes(refused(io.BytesIO(data))) == [(3, None, "encoding"), (4, "value", "not_a_number")]


def test_utf16_files_are_refused_with_advice():
    data = "metric;period;value\n".encode("utf-16")
    assert codes(refused(io.BytesIO(data))) == [(1, None, "utf16")]


def test_unknown_encoding_name_is_refused():
    assert codes(refused("period;value\n", encoding="no-such-codec")) == [
        (None, None, "unknown_encoding")
    ]


def test_xlsx_with_real_dates_text_dates_and_numbers_reads_the_first_sheet():
    file = xlsx_file(
        [
            ["metric", "period", "arm", "unit", "value", "n"],
            ["wait", dt.datetime(2026, 1, 1), "pilot", 1001, 12.5, None],
            ["wait", "01.02.2026", None, "P2", "3,5", None],
            ["housed", dt.date(2026, 3, 1), "comparison", "P3", 2, 5],
            [None, None, None, None, None, None],
        ],
        sheets=2,
    )
    reader = read_observations(file, METRICS, filename="data.xlsx")
    assert list(reader) == [
        Observation("wait", "2026-01-01", "pilot", "1001", 12.5, None, 2),
        Observation("wait", "2026-02-01", "pilot", "P2", 3.5, None, 3),
        Observation("housed", "2026-03-01", "comparison", "P3", 2.0, 5.0, 4),
    ]
    assert reader.kind == "xlsx" and reader.blank_lines == 1


def test_xlsx_errors_name_the_sheet_row_and_column():
    file = xlsx_file(
        [
            ["metric", "period", "value"],
            ["wait", dt.datetime(2026, 1, 1, 13, 30), 1],
            ["wait", 46023, 1],
            ["wait", "31.02.2026", True],
        ]
    )
    assert codes(refused(file, kind="xlsx")) == [
        (2, "period", "date_with_time"),
        (3, "period", "not_a_date"),
        (4, "period", "impossible_date"),
        (4, "value", "not_a_number"),
    ]


def test_a_broken_xlsx_and_an_old_xls_are_refused():
    assert codes(refused(io.BytesIO(b"PK\x03\x04 not really"), filename="a.xlsx")) == [
        (None, None, "xlsx")
    ]
    assert codes(refused(io.BytesIO(b"\xd0\xcf\x11\xe0rest"), filename="a.xls")) == [
        (None, None, "xls")
    ]


# -- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1,5", "1,234"], [1.5, 1.234]),  # comma established, then read by it
        (["1,5", "1.234"], [1.5, 1234.0]),  # the other mark is a thousands separator
        (["1.25", "1,234"], [1.25, 1234.0]),
        (["0,123"], [0.123]),  # a leading 0 is never a thousands group
        (["1234,567"], [1234.567]),  # four digits before: no thousands grouping
        (["1.234.567"], [1234567.0]),
        (["1 234 567,25"], [1234567.25]),
        (["1\u00a0234,5"], [1234.5]),  # no-break space, as Excel writes it in Norwegian
        (["\u22121,5", "-2"], [-1.5, -2.0]),  # Unicode minus
        ([" 7 "], [7.0]),
    ],
)
def test_numbers_read_one_way_only(values, expected):
    text = "metric;period;unit;value\n" + "".join(
        f"daily;0{i + 1}.01.2026;u;{v}\n" for i, v in enumerate(values)
    )
    assert [r.value for r in read(text)] == expected


@pytest.mark.parametrize(
    ("values", "line", "code"),
    [
        (["1,234"], 2, "ambiguous_number"),  # could be 1.234 or 1234
        (["12.500", "1,5"], 2, "ambiguous_number"),  # the later 1,5 does not decide it
        (["1,5", "2.5"], 3, "decimal_mark"),  # one file, one decimal mark
        (["1.234,5", "1.5"], 3, "decimal_mark"),
        (["1,2,3"], 2, "not_a_number"),
        (["1e5"], 2, "not_a_number"),
        (["nan"], 2, "not_a_number"),
        (["12 %"], 2, "not_a_number"),
        (["1.2.3,4"], 2, "not_a_number"),
        (["9" * 400], 2, "too_large"),
        ([""], 2, "missing_number"),
    ],
)
def test_numbers_that_could_be_read_two_ways_or_not_at_all_are_errors(values, line, code):
    text = "metric;period;unit;value\n" + "".join(
        f"daily;0{i + 1}.01.2026;u;{v}\n" for i, v in enumerate(values)
    )
    refusal = refused(text)
    assert (line, "value", code) in codes(refusal)


def test_a_comma_in_a_number_of_a_comma_separated_file_is_an_error():
    assert codes(refused('metric,period,value\ndaily,2026-01-01,"1,5"\n')) == [
        (2, "value", "decimal_mark")
    ]


def test_the_caller_may_name_the_decimal_mark():
    text = "metric;period;value\ndaily;01.01.2026;1,234\n"
    assert read(text, decimal_mark=",")[0].value == 1.234
    assert read(text, decimal_mark=".")[0].value == 1234.0


# -- dates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "code"),
    [
        ("31.02.2026", "impossible_date"),
        ("2026-02-30", "impossible_date"),
        ("2026/01/01", "not_a_date"),
        ("01.01.26", "not_a_date"),
        ("1. januar 2026", "not_a_date"),
        ("01.01.0026", "year_out_of_range"),
        ("", "missing_period"),
    ],
)
def test_impossible_or_unreadable_dates_are_errors(period, code):
    assert codes(refused(f"metric;period;value\ndaily;{period};1\n")) == [(2, "period", code)]


def test_a_date_must_start_the_metric_period_and_the_error_says_which():
    refusal = refused("metric;period;value\nwait;15.01.2026;1\n")
    assert codes(refusal) == [(2, "period", "not_period_start")]
    assert "01.01.2026" in refusal.errors[0].text


def test_a_period_that_has_not_begun_is_an_error_and_one_that_has_begun_is_read():
    today = dt.date(2026, 11, 26)
    refusal = refused("metric;period;value\ndaily;27.11.2026;1\nwait;01.12.2026;2\n", today=today)
    assert codes(refusal) == [(2, "period", "future_period"), (3, "period", "future_period")]
    assert "01.12.2026" in refusal.errors[1].text
    rows = read("metric;period;value\ndaily;26.11.2026;1\nwait;01.11.2026;2\n", today=today)
    assert [row.period for row in rows] == ["2026-11-26", "2026-11-01"]


def test_single_digit_day_and_month_are_read():
    assert read("metric;period;value\nwait;1.2.2026;1\n")[0].period == "2026-02-01"


# -- the rest of the contract ----------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "column", "code"),
    [
        ("nope;01.01.2026;pilot;u;1;", "metric", "unknown_metric"),
        (";01.01.2026;pilot;u;1;", "metric", "missing_metric"),
        ("wait;01.01.2026;control;u;1;", "arm", "unknown_arm"),
        ("wait;01.01.2026;pilot;u;400;", "value", "out_of_range"),
        ("wait;01.01.2026;pilot;u;-1;", "value", "out_of_range"),
        ("housed;01.01.2026;pilot;u;0,5;", "value", "proportion_not_0_or_1"),
        ("housed;01.01.2026;pilot;u;2;0", "n", "n_not_positive"),
        ("housed;01.01.2026;pilot;u;5;4", "value", "successes_over_n"),
        ("admissions;01.01.2026;pilot;u;-2;10", "value", "negative_count"),
        ("wait;01.01.2026;pilot;u;2;10", "n", "n_not_for_mean"),
        ("wait;01.01.2026;pilot;01017000027;2;", "unit", "national_id"),
        ("wait;01.01.2026;pilot;a\x01b;2;", "unit", "unit_characters"),
        ("wait;01.01.2026;pilot;" + "x" * 101 + ";2;", "unit", "unit_too_long"),
    ],
)
def test_each_rule_names_line_and_column(row, column, code):
    text = "metric;period;arm;unit;value;n\nwait;01.01.2026;pilot;ok;1;\n" + row + "\n"
    assert codes(refused(text)) == [(3, column, code)]


def test_an_arm_the_design_lacks_is_an_error():
    text = "metric;period;arm;value\nwait;01.01.2026;comparison;1\n"
    assert codes(refused(text, arms=("pilot",))) == [(2, "arm", "arm_not_in_design")]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("metric;period", [(1, "value", "missing_column")]),
        ("period;value", [(1, "metric", "missing_column")]),
        ("metric;period;value;comment", [(1, "comment", "unknown_column")]),
        ("metric;period;value;value", [(1, "value", "column_twice")]),
        ("metric;;period;value", [(1, None, "column_name")]),
        ("", [(1, None, "empty")]),
        ("metric period value", [(1, None, "delimiter")]),
        ("metric;period,value", [(1, None, "delimiter")]),
    ],
)
def test_header_errors(header, expected):
    assert codes(refused(header + "\nwait;01.01.2026;1\n")) == expected


def test_column_names_are_case_and_space_insensitive_and_may_come_in_any_order():
    rows = read(" Value ;PERIOD;Metric\n1;01.01.2026;wait\n")
    assert rows[0][:2] == ("wait", "2026-01-01")


def test_a_row_with_too_many_or_too_few_fields_is_an_error_and_blank_lines_are_skipped():
    text = "metric;period;value\nwait;01.01.2026;1;9\n\n;;\nwait;01.02.2026\n"
    assert codes(refused(text)) == [(2, None, "fields"), (5, None, "fields")]


def test_trailing_delimiters_from_excel_are_allowed_when_empty():
    rows = read("metric;period;value;;\nwait;01.01.2026;1;;\n;;;;\n")
    assert len(rows) == 1
    assert codes(refused("metric;period;value;\nwait;01.01.2026;1;x\n")) == [
        (2, None, "values_outside_columns")
    ]


def test_a_key_twice_in_one_file_names_both_lines():
    text = (
        "metric;period;arm;unit;value\n"
        "wait;01.01.2026;pilot;u1;1\n"
        "wait;01.01.2026;pilot;u2;1\n"
        "wait;01.01.2026;;u1;2\n"
    )
    refusal = refused(text)
    assert codes(refusal) == [(4, "period", "duplicate")]
    assert refusal.errors[0].params == {"first": 2}


def test_a_multiline_quoted_field_keeps_line_numbers_right():
    text = 'metric;period;unit;value\nwait;01.01.2026;"a\nb";1\nwait;31.02.2026;c;1\n'
    assert codes(refused(text)) == [
        (2, "unit", "unit_characters"),
        (4, "period", "impossible_date"),
    ]


def test_with_a_target_metric_the_metric_column_is_optional_and_other_metrics_are_errors():
    assert read("period;value\n01.01.2026;3\n", target_metric="wait")[0].metric == "wait"
    refusal = refused("metric;period;value\nhoused;01.01.2026;1\n", target_metric="wait")
    assert codes(refusal) == [(2, "metric", "unknown_metric")]


def test_an_exported_apostrophe_before_a_formula_character_is_dropped_again():
    assert read("metric;period;unit;value\nwait;01.01.2026;'-12;1\n")[0].unit == "-12"


def test_a_json_list_keeps_a_leading_apostrophe_as_sent():
    # JSON exports never add the formula apostrophe, so there it is part of the value.
    records = [{"metric": "wait", "period": "2026-01-01", "unit": "'=x", "value": 1}]
    assert list(read_records(records, METRICS))[0].unit == "'=x"
    with pytest.raises(FileRefused) as caught:
        list(read_records([{**records[0], "arm": "'pilot"}], METRICS))
    assert codes(caught.value) == [(1, "arm", "unknown_arm")]


def test_national_id_check_uses_the_check_digits():
    assert looks_like_national_id("01017000027")
    assert not looks_like_national_id("01017000028")
    assert not looks_like_national_id("P0101700002")


# -- caps, error lists, streaming -------------------------------------------------------


def test_row_cap_stops_reading_with_a_clear_error():
    text = "metric;period;unit;value\n" + "".join(f"daily;0{d}.01.2026;u;1\n" for d in range(1, 6))
    refusal = refused(text, max_rows=3)
    assert codes(refusal) == [(5, None, "too_many_rows")]
    assert "3" in refusal.errors[0].text


def test_size_cap_stops_reading_with_a_clear_error():
    text = "metric;period;unit;value\n" + "daily;01.01.2026;u;1\n" * 100
    assert codes(refused(text, max_bytes=500))[0][2] == "too_big"


def test_errors_are_all_counted_but_only_the_first_ones_listed():
    text = "metric;period;value\n" + "wait;31.02.2026;1\n" * 50
    refusal = refused(text, max_errors=10)
    assert len(refusal.errors) == 10 and refusal.total == 50
    assert [e.line for e in refusal.errors] == list(range(2, 12))


def test_every_error_renders_its_message_with_line_and_column():
    refusal = refused("metric;period;value\nwait;31.02.2026;1,234\n")
    for error in refusal.errors:
        assert error.as_dict()["message"] == error.message % error.params
        assert error.line == 2 and error.column in ("period", "value")


def test_reading_streams_rows_before_the_file_is_read_to_the_end():
    class CountingFile(io.BytesIO):
        read_bytes = 0

        def readline(self, size=-1):
            line = super().readline(size)
            CountingFile.read_bytes += len(line)
            return line

    body = "".join(f"daily;{d:02d}.01.2026;u{u};1\n" for d in range(1, 29) for u in range(300))
    file = CountingFile(("metric;period;unit;value\n" + body).encode())
    rows = iter(read_observations(file, METRICS, check_duplicates=True))
    next(rows)
    assert CountingFile.read_bytes < 1000 < len(body)


def test_a_bad_file_refuses_only_after_every_row_was_checked():
    reader = read_observations(
        csv_file("metric;period;value\nwait;31.02.2026;1\nwait;01.02.2026;2\n"), METRICS
    )
    rows = iter(reader)
    assert next(rows).line == 3  # the good row still comes, then the refusal
    with pytest.raises(FileRefused):
        next(rows)


def test_preview_shows_format_first_rows_and_every_error_without_raising():
    text = "metric;period;value\n" + "".join(f"daily;{d:02d}.01.2026;1,5\n" for d in range(1, 29))
    text += "wait;31.02.2026;x\n"
    result = preview(csv_file(text, bom=True), METRICS, rows=5)
    assert (result.delimiter, result.decimal_mark, result.encoding) == (";", ",", "utf-8")
    assert len(result.rows) == 5 and result.row_count == 28 and result.rows_read == 29
    assert [(e.line, e.code) for e in result.errors] == [
        (30, "impossible_date"),
        (30, "not_a_number"),
    ]
    assert not result.ok


def test_json_records_follow_the_same_rules():
    records = [
        {"metric": "wait", "period": "2026-01-01", "value": 2.5},
        {"metric": "housed", "period": "01.01.2026", "value": 3, "n": 4, "arm": "comparison"},
        {"metric": "wait", "period": "2026-02-01", "value": True},
        {"metric": "wait", "period": "2026-03-01", "value": 1, "colour": "red"},
        {"period": "2026-03-01", "value": 1},
        "not an object",
    ]
    with pytest.raises(FileRefused) as caught:
        list(read_records(records, METRICS))
    assert codes(caught.value) == [
        (3, "value", "not_a_number"),
        (4, "colour", "unknown_column"),
        (5, "metric", "missing_column"),
        (6, None, "not_an_object"),
    ]
    rows = list(read_records(records[:2], METRICS))
    assert rows[1] == Observation("housed", "2026-01-01", "comparison", "", 3.0, 4.0, 2)


def test_a_rate_shown_per_an_amount_needs_its_exposure_in_n():
    """Counted as n = 1, a row of 2 visits would read as 200 visits per 100 days: a rate
    shown per an amount refuses a row without n, by file and by JSON alike, naming it."""
    metrics = {**METRICS, "visits": MetricSpec("rate", 0, None, "month", rate_per=100.0)}
    text = "metric;period;unit;value;n\nvisits;01.03.2026;a;2;250\nvisits;01.03.2026;b;2;\n"
    refusal = refused(text, metrics)
    assert codes(refusal) == [(3, "n", "n_needed_for_rate")]
    assert "per 100 of exposure" in refusal.errors[0].text
    records = [{"metric": "visits", "period": "2026-03-01", "unit": "b", "value": 2}]
    with pytest.raises(FileRefused) as caught:
        list(read_records(records, metrics))
    assert codes(caught.value) == [(1, "n", "n_needed_for_rate")]
    # a rate per 1 of exposure may still leave n out: the row counts n = 1
    assert read("metric;period;value\nadmissions;01.03.2026;2\n")[0].n is None


def test_the_preview_counts_a_short_line_among_the_rows_read():
    """Four data lines, one with too few fields and one with a bad value: four read, two
    without errors (the short line used to go uncounted: "3 read, 2 without errors")."""
    text = (
        "metric;period;value\n"
        "wait;01.01.2026;3\n"
        "wait;01.02.2026\n"
        "wait;01.03.2026;x\n"
        "wait;01.04.2026;4\n"
    )
    result = preview(csv_file(text), METRICS)
    assert (result.rows_read, result.row_count, result.error_count) == (4, 2, 2)
