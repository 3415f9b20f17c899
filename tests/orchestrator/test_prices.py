"""Prices: exact micro-USD amounts, the most specific row, and the prices file's refusals."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from orchestrator.domain.prices import (
    DEFAULT_ROWS,
    MICROS,
    Per,
    PriceBook,
    PriceError,
    PriceFileError,
    PriceRow,
    load_price_book,
    output_seconds,
    parse_usd,
    to_micros,
    usd,
)
from orchestrator.domain.values import VideoParams
from tests.orchestrator.helpers import make

PARAMS = VideoParams()


def row(micros: int, per: Per = "video", source: str = "test", **narrow: object) -> PriceRow:
    fields: dict[str, object] = {"model": None, "kind": None, "resolution": None, "audio": None}
    fields |= narrow
    return PriceRow(
        provider="apimart",
        usd_micros=micros,
        per=per,
        source=source,
        **fields,  # type: ignore[arg-type]
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(PriceFileError) as info:
        load_price_book(write(tmp_path, text))
    return str(info.value)


# --- amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (200_000, "0.20"),
        (1_500_000, "1.50"),
        (123, "0.000123"),
        (0, "0.00"),
        (-200_000, "-0.20"),
        (1, "0.000001"),
        (12_345_678_901, "12345.678901"),
        (3 * MICROS, "3.00"),
    ],
)
def test_usd_formats_exactly_with_at_least_two_decimals(micros: int, text: str) -> None:
    """usd() writes every micro-dollar and pads to cents."""
    assert usd(micros) == text


def test_to_micros_is_exact_where_floats_are_not() -> None:
    """Decimal arithmetic reaches micro-USD with no binary rounding."""
    assert 0.1 * 3 != 0.3
    assert to_micros(Decimal("0.1") * 3) == 300_000
    assert to_micros(Decimal("0.000001")) == 1
    assert to_micros(Decimal("1.2000000000")) == 1_200_000
    assert to_micros(Decimal("1E+3")) == 1000 * MICROS
    assert to_micros(Decimal("0E-12")) == 0
    assert to_micros(Decimal("12345678901234567890.123456")) == 12345678901234567890123456


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (Decimal("0.0000001"), "more than 6 decimal places"),
        (Decimal("1000000000000000000000000.0000001"), "more than 6 decimal places"),
        (Decimal("-0.01"), "negative"),
        (Decimal("NaN"), "not a finite"),
        (Decimal("Infinity"), "not a finite"),
    ],
)
def test_to_micros_refuses_what_it_cannot_hold(amount: Decimal, words: str) -> None:
    """Finer than a micro-dollar, negative or not finite is a ValueError, never a rounding."""
    with pytest.raises(ValueError, match=words):
        to_micros(amount)


def test_parse_usd_reads_a_decimal_string() -> None:
    """A JSON or TOML decimal string becomes micro-USD."""
    assert parse_usd("0.20", "usd") == 200_000
    assert parse_usd("3", "usd") == 3 * MICROS
    assert parse_usd("0.000123", "usd") == 123


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0.3x", "is not a decimal amount"),
        ("", "is not a decimal amount"),
        ("NaN", "is not a decimal amount"),
        ("inf", "is not a decimal amount"),
        ("1e3", "is not a decimal amount"),
        ("1_000", "is not a decimal amount"),
        (" 0.20", "is not a decimal amount"),
        ("-0.20", "negative"),
        ("0.0000001", "more than 6 decimal places"),
    ],
)
def test_parse_usd_names_the_field_it_refuses(text: str, words: str) -> None:
    """Every malformed amount is a PriceError carrying the field's name."""
    with pytest.raises(PriceError, match=words) as info:
        parse_usd(text, "limits.daily_usd")
    assert info.value.field == "limits.daily_usd"
    assert str(info.value).startswith("limits.daily_usd: ")


# --- seconds and rows -----------------------------------------------------------------------


def test_output_seconds_of_generate_and_extend() -> None:
    """A generate lasts its duration (default 8); an extend adds 7 whatever its duration."""
    assert output_seconds("generate", VideoParams(duration=4)) == 4
    assert output_seconds("generate", PARAMS) == 8
    assert output_seconds("extend", VideoParams(duration=4)) == 7


def test_specificity_counts_the_narrowing_fields() -> None:
    """Provider and price do not count; model, kind, resolution and audio do."""
    assert row(1).specificity == 0
    assert row(1, model="m", kind="extend", resolution="720p", audio=False).specificity == 4


def test_the_most_specific_matching_row_wins() -> None:
    """Resolution and audio narrow a provider-wide price; a non-matching narrow row is skipped."""
    book = PriceBook(
        [
            row(100, source="any"),
            row(200, source="1080p", resolution="1080p"),
            row(300, source="1080p audio", resolution="1080p", audio=True),
            row(400, source="m2", model="m2", resolution="1080p", audio=True),
        ]
    )

    def chosen(model: str = "m", **params: object) -> str | None:
        found = book.price("apimart", model, "generate", VideoParams.model_validate(params))
        return None if found is None else found.source

    assert chosen() == "any"
    assert chosen(resolution="720p", generate_audio=True) == "any"
    assert chosen(resolution="1080p") == "1080p"
    assert chosen(resolution="1080p", generate_audio=False) == "1080p"
    assert chosen(resolution="1080p", generate_audio=True) == "1080p audio"
    assert chosen("m2", resolution="1080p", generate_audio=True) == "m2"
    assert book.price("apifree", "m", "generate", PARAMS) is None


def test_kind_narrows_and_other_providers_are_not_matched() -> None:
    """A generate-only row does not price an extend."""
    book = PriceBook([row(100, kind="generate")])
    assert book.estimate("apimart", "m", "generate", PARAMS) == 100
    assert book.estimate("apimart", "m", "extend", PARAMS) is None
    assert book.estimate("octopusx", "m", "generate", PARAMS) is None


def test_per_second_prices_multiply_by_output_seconds() -> None:
    """Per-second rows cost the price times the seconds: duration (default 8), or 7 if extend."""
    book = PriceBook([row(50_000, per="second")])
    assert book.estimate("apimart", "m", "generate", VideoParams(duration=4)) == 200_000
    assert book.estimate("apimart", "m", "generate", PARAMS) == 400_000
    assert book.estimate("apimart", "m", "extend", VideoParams(duration=4)) == 350_000


def test_per_video_prices_ignore_duration() -> None:
    """A per-video price is the same for a 4 and an 8 second video."""
    book = PriceBook([row(300_000)])
    assert book.estimate("apimart", "m", "generate", VideoParams(duration=4)) == 300_000
    assert book.estimate("apimart", "m", "generate", PARAMS) == 300_000


def test_defaults_price_only_apixo_generates() -> None:
    """apixo fast and quality generates are priced; extends and other providers are unpriced."""
    book = load_price_book(None)
    assert book.rows == DEFAULT_ROWS
    assert book.estimate("apixo", "fast", "generate", PARAMS) == 200_000
    assert book.estimate("apixo", "quality", "generate", VideoParams(duration=4)) == 1_500_000
    assert book.estimate("apixo", "fast", "extend", PARAMS) is None
    for provider in ("apimart", "octopusx", "apifree"):
        assert book.estimate(provider, "veo3.1-fast", "generate", PARAMS) is None


def test_estimate_step_reads_the_steps_fields() -> None:
    """A step is priced by its provider, model, kind and params."""
    book = load_price_book(None)
    assert book.estimate_step(make(provider="apixo", model="quality")) == 1_500_000
    assert book.estimate_step(make(provider="apixo", model="fast", kind="extend")) is None


def test_a_book_refuses_two_rows_with_one_key() -> None:
    """Two rows for the same case would leave the price to chance."""
    with pytest.raises(ValueError, match="first"):
        PriceBook([row(1, source="first", model="m"), row(2, source="second", model="m")])


def test_a_book_refuses_equally_specific_overlapping_rows() -> None:
    """model=m and resolution=1080p both match an m 1080p step, unless a row covers it."""
    a, b = row(1, source="A", model="m"), row(2, source="B", resolution="1080p")
    with pytest.raises(ValueError, match="A and B both price provider=apimart, model=m, "):
        PriceBook([a, b])
    book = PriceBook([a, b, row(3, model="m", resolution="1080p")])
    assert book.estimate("apimart", "m", "generate", VideoParams(resolution="1080p")) == 3
    assert PriceBook([a, row(2, model="n")]).estimate("apimart", "n", "extend", PARAMS) == 2


# --- the prices file ------------------------------------------------------------------------


def test_a_provider_the_file_names_is_priced_by_the_file_alone(tmp_path: Path) -> None:
    """Naming apixo replaces its built-in rows (quality is now unpriced); the others stay."""
    book = load_price_book(
        write(
            tmp_path,
            """
[[price]]
provider = "apixo"
model = "fast"
kind = "generate"
usd = "0.25"
per = "video"

[[price]]
provider = "apimart"
kind = "extend"
usd = "0.05"
per = "second"
audio = true

[[price]]
provider = "octopusx"
usd = 2
per = "video"
""",
        )
    )
    assert book.estimate("apixo", "fast", "generate", PARAMS) == 250_000
    assert book.estimate("apixo", "quality", "generate", PARAMS) is None
    extend = VideoParams(generate_audio=True)
    assert book.estimate("apimart", "veo3.1-fast", "extend", extend) == 350_000
    assert book.estimate("apimart", "veo3.1-fast", "extend", PARAMS) is None
    assert book.estimate("octopusx", "any", "generate", PARAMS) == 2 * MICROS
    fast = book.price("apixo", "fast", "generate", PARAMS)
    assert fast is not None
    assert fast.source == f"{tmp_path / 'prices.toml'} row 1"
    assert len(book.rows) == 3  # apixo quality is gone with the built-in rows


ROW = 'provider = "apimart"\nusd = "0.20"\nper = "video"\n'


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ('provider = "apimart"\nusd = 0.3\nper = "video"', "usd", 'quote it as "0.3"'),
        ('provider = "apimart"\nusd = "-0.20"\nper = "video"', "usd", "negative"),
        ('provider = "apimart"\nusd = "0.0000001"\nper = "video"', "usd", "more than 6 decimal"),
        (
            'provider = "apimart"\nusd = "0.3x"\nper = "video"',
            "usd",
            '"0.3x" is not a decimal amount in USD such as "0.20"',
        ),
        ('provider = "apimart"\nusd = nan\nper = "video"', "usd", "is not a decimal amount"),
        ('provider = "apimart"\nusd = true\nper = "video"', "usd", "is not a decimal amount"),
        ('provider = "apimart"\nper = "video"', "usd", "missing"),
        ('provider = "veo"\nusd = "0.20"\nper = "video"', "provider", "'veo' is not one of"),
        ('usd = "0.20"\nper = "video"', "provider", "missing"),
        (ROW + "colour = 'red'", "colour", "unknown key"),
        (ROW + 'kind = "remix"', "kind", "'remix' is not one of generate, extend"),
        ('provider = "apimart"\nusd = "0.20"\nper = "minute"', "per", "'minute' is not one of"),
        ('provider = "apimart"\nusd = "0.20"', "per", "missing"),
        (ROW + 'audio = "yes"', "audio", "is not true or false"),
        (ROW + "model = 3", "model", "is not a non-empty string"),
        (ROW + 'resolution = ""', "resolution", "is not a non-empty string"),
    ],
)
def test_a_malformed_row_names_the_file_row_and_field(
    tmp_path: Path, body: str, field: str, words: str
) -> None:
    """The third row is wrong: the message says which file, which row and which field."""
    good = '[[price]]\nprovider = "apifree"\nusd = "1"\nper = "video"\n'
    message = refusal(tmp_path, good + good.replace("apifree", "octopusx") + "[[price]]\n" + body)
    assert message.startswith(f"{tmp_path / 'prices.toml'} row 3 (price[2]): {field}: ")
    assert words in message
    assert "row 1" not in message
    assert "row 2" not in message


def test_every_row_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Two bad rows, one with two bad fields, give three problems in one message."""
    message = refusal(
        tmp_path,
        '[[price]]\nprovider = "apimart"\nusd = 0.2\nper = "hour"\n'
        f"[[price]]\n{ROW}"
        '[[price]]\nprovider = "x"\nusd = "0.20"\nper = "video"\n',
    )
    problems = message.split("; ")
    assert [p.split(": ")[0].rsplit(" ", 3)[1:] for p in problems] == [
        ["row", "1", "(price[0])"],
        ["row", "1", "(price[0])"],
        ["row", "3", "(price[2])"],
    ]
    assert {p.split(": ")[1] for p in problems} == {"usd", "per", "provider"}


def test_two_file_rows_with_one_key_are_refused(tmp_path: Path) -> None:
    """The second row for the same case is named, with the row it repeats."""
    message = refusal(tmp_path, f"[[price]]\n{ROW}[[price]]\n{ROW.replace('0.20', '0.30')}")
    path = tmp_path / "prices.toml"
    assert message == (
        f"{path} row 2 (price[1]): provider, model, kind, resolution and audio are those of "
        f"{path} row 1"
    )


def test_a_broad_file_row_wins_over_the_narrower_built_in_ones(tmp_path: Path) -> None:
    """apixo generate at any mode: the built-in fast and quality rows no longer apply."""
    book = load_price_book(
        write(
            tmp_path,
            '[[price]]\nprovider = "apixo"\nkind = "generate"\nusd = "0.40"\nper = "video"\n',
        )
    )
    assert book.estimate("apixo", "fast", "generate", PARAMS) == 400_000
    assert book.estimate("apixo", "quality", "generate", PARAMS) == 400_000


def test_a_toml_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    """tomllib's position is kept."""
    message = refusal(tmp_path, f'[[price]]\n{ROW}usd = "0.20\n')
    assert message.startswith(f"{tmp_path / 'prices.toml'}: not valid TOML: ")
    assert "line 5" in message
    assert "column" in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """A configured file that is not there is an error, not the defaults."""
    with pytest.raises(PriceFileError, match="no such file") as info:
        load_price_book(tmp_path / "nope.toml")
    assert str(tmp_path / "nope.toml") in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "holds no [[price]] tables"),
        ("price = []", "holds no [[price]] tables"),
        ("[price]\nprovider = 'apimart'", "write each price as a [[price]] table"),
        ("price = [1]", "row 1 (price[0]): is not a table"),
        (f"currency = 'EUR'\n[[price]]\n{ROW}", "unknown top-level keys currency"),
    ],
)
def test_a_file_without_price_tables_is_refused(tmp_path: Path, text: str, words: str) -> None:
    """The file holds [[price]] tables and nothing else."""
    message = refusal(tmp_path, text)
    assert message.startswith(str(tmp_path / "prices.toml"))
    assert words in message
