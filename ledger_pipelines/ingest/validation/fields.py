"""Expressions and checks shared by every stage: the JSON kind of a text, integers given as JSON
numbers or decimal strings (never rounded, 64-bit range decided on the digits), and the checks of
one integer or string field, in reason order."""

from __future__ import annotations

import polars as pl

from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.row_checks import CheckSpec, display

INT64_MAX_DIGITS = "9223372036854775807"
INT64_MIN_DIGITS = "9223372036854775808"
INTEGER_TEXT = r"^-?[0-9]+$"
CONTROL = r"\p{Cc}"
# Control characters inside compact JSON text: raw DEL/C1, or an escape of a C0/DEL/C1 character
# (an escape is a backslash preceded by an even number of backslashes).
CONTROL_IN_JSON = r'(?:^|[^\\])(?:\\\\)*\\(?:[bfnrt]|u00[01][0-9A-Fa-f]|u007[Ff]|u00[89][0-9A-Fa-f])|[\x7f-\x9f]'
# A JSON string token in compact JSON text.
STRING_TOKEN = r'"(?:[^"\\]|\\.)*"'



# -- small expression helpers -----------------------------------------------------------------------

def kind_of(json_text: pl.Expr) -> pl.Expr:
    """The JSON type of a JSON text: string, number, object, array, boolean (null when absent)."""
    first = json_text.str.head(1)
    return (
        pl.when(json_text.is_null()).then(None)
        .when(first == '"').then(pl.lit("string"))
        .when(first == "{").then(pl.lit("object"))
        .when(first == "[").then(pl.lit("array"))
        .when(first.is_in(["t", "f"])).then(pl.lit("boolean"))
        .otherwise(pl.lit("number"))
    )


_A_KIND = {"number": "a number", "object": "an object", "array": "an array", "boolean": "a boolean", "string": "a string"}


def a_kind(kind: pl.Expr) -> pl.Expr:
    return kind.replace_strict(_A_KIND, default="a value", return_dtype=pl.Utf8)


def integer_value(text: pl.Expr) -> pl.Expr:
    """``text`` (digits, optional '-') as Int64; null when not an integer or outside 64 bits."""
    return pl.when(text.str.contains(INTEGER_TEXT) & ~integer_overflows(text)).then(text.cast(pl.Int64, strict=False))


def integer_overflows(text: pl.Expr) -> pl.Expr:
    """Whether an integer text lies outside the signed 64-bit range (decided on the digits)."""
    negative = text.str.starts_with("-")
    digits = text.str.strip_prefix("-").str.strip_chars_start("0")
    limit = pl.when(negative).then(pl.lit(INT64_MIN_DIGITS)).otherwise(pl.lit(INT64_MAX_DIGITS))
    return (digits.str.len_bytes() > 19) | ((digits.str.len_bytes() == 19) & (digits > limit))


def integer_columns(text_col: str) -> list[pl.Expr]:
    """Helper columns for :func:`integer_specs` (computed once, read by several checks)."""
    text = pl.col(text_col)
    is_integer = text.str.contains(INTEGER_TEXT)
    overflow = is_integer & integer_overflows(text)
    return [
        is_integer.alias(f"{text_col}#isint"),
        overflow.alias(f"{text_col}#over"),
        pl.when(is_integer & ~overflow).then(text.cast(pl.Int64, strict=False)).alias(f"{text_col}#int"),
    ]


def number_text(json_text: pl.Series) -> pl.Series:
    """The digits of a JSON number or of a JSON string (a decimal string); null for other kinds."""
    unquoted = jsontext.unquote(json_text)
    first = json_text.str.head(1)
    number = ~first.is_in(['"', "{", "[", "t", "f", "n"])
    return pl.select(pl.when(unquoted.is_not_null()).then(unquoted).when(number).then(json_text)).to_series()


def integer_specs(field: str, json_col: str, text_col: str, applies: pl.Expr, *, positive: bool,
                  minimum: int | None = None, label: pl.Expr | None = None) -> list[CheckSpec]:
    """The checks of one integer field (JSON integer or decimal string), in reason order.

    Needs the :func:`integer_columns` of ``text_col``. ``label`` names the field in messages when
    it varies per row (``payload.legs[2].amount``).
    """
    kind = kind_of(pl.col(json_col))
    name = pl.lit(field) if label is None else label
    text = pl.col(text_col)
    shown = display(pl.col(json_col))
    value = pl.col(f"{text_col}#int")
    specs = [
        CheckSpec(R.AMOUNT_NOT_INTEGER, field, ~applies | text.is_not_null() | pl.col(json_col).is_null(),
                  pl.format("{} must be an integer number (minor units for money), not {} ({}); send e.g. 1250 for 12.50.",
                            name, a_kind(kind), shown)),
        CheckSpec(R.AMOUNT_NOT_INTEGER, field, ~applies | text.is_null() | pl.col(f"{text_col}#isint"),
                  pl.format("{} {} is not an integer: send a whole number, never a fraction or exponent; money is in "
                            "integer minor units (12.50 USD is 1250, 1e3 must be written 1000).", name, shown)),
        CheckSpec(R.AMOUNT_OUT_OF_RANGE, field, ~applies | ~pl.col(f"{text_col}#over"),
                  pl.format("{} {} does not fit in a signed 64-bit integer (-9223372036854775808 .. 9223372036854775807); "
                            "check the unit (minor units) and the value.", name, shown)),
    ]
    if positive:
        specs.append(CheckSpec(R.AMOUNT_NOT_POSITIVE, field, ~applies | value.is_null() | (value > 0),
                               pl.format("{} is {} but must be greater than zero; to take money back send a refund, credit "
                                         "or reversal event instead of a negative amount.", name, shown)))
    elif minimum is not None:
        code = R.AMOUNT_NOT_POSITIVE if minimum >= 1 else R.INVALID_PAYLOAD
        specs.append(CheckSpec(code, field, ~applies | value.is_null() | (value >= minimum),
                               pl.format("{} is {} but must be at least {}.", name, shown, pl.lit(minimum))))
    return specs


def string_specs(field: str, json_col: str, value_col: str, applies: pl.Expr, *, required: bool,
                 missing_code: str, type_code: str, max_length: int, label: pl.Expr | None = None,
                 context: str = "this event needs it") -> list[CheckSpec]:
    """Checks of a string field: present (if required), a JSON string, no control characters, length."""
    kind = kind_of(pl.col(json_col))
    name = pl.lit(field) if label is None else label
    value = pl.col(value_col)
    specs = []
    if required:
        specs.append(CheckSpec(missing_code, field, ~applies | pl.col(json_col).is_not_null(),
                               pl.format("{} is missing (absent, null or empty); {}.", name, pl.lit(context))))
    specs += [
        CheckSpec(type_code, field, ~applies | pl.col(json_col).is_null() | pl.col(json_col).str.starts_with('"'),
                  pl.format("{} must be a JSON string, not {} ({}); send it as text.", name, a_kind(kind),
                            display(pl.col(json_col)))),
        CheckSpec(R.CONTROL_CHARACTERS, field, ~applies | value.is_null() | ~value.str.contains(CONTROL),
                  pl.format("{} {} contains a control character at position {}; remove it (control characters, NUL "
                            "included, are never allowed in strings).", name, display(pl.col(json_col)),
                            value.str.find(CONTROL) + 1)),
        CheckSpec(type_code, field, ~applies | value.is_null() | (value.str.len_chars() <= max_length),
                  pl.format("{} has {} characters; at most {} are allowed ({}).", name, value.str.len_chars(),
                            pl.lit(max_length), display(value, 40))),
    ]
    return specs
