"""Request bodies read as the source-event contract reads JSON: nothing silently dropped or changed.

Python's ``json`` keeps the last of two equal keys and turns ``1e2`` into ``100.0``. Here an object
is kept as its list of pairs (:class:`Pairs`, repeated keys included) and a number with a fraction
or exponent as its literal text (:class:`Number`), so an event can be stored exactly as sent
(:func:`dumps`) and the ingestion front end refuses it with the contract's reason
(``malformed_json`` for a repeated key, ``amount_not_integer`` for ``1e2``). :func:`plain` turns
a parsed document into ordinary dicts for the API's own requests, refusing repeated keys.
"""

from __future__ import annotations

import json
from typing import Any


class Pairs(list):
    """A JSON object as the list of its ``(key, value)`` pairs, in order, repeats included."""

    def get(self, key: str, default: Any = None) -> Any:
        for name, value in self:
            if name == key:
                return value
        return default

    def repeated(self) -> str | None:
        seen: set[str] = set()
        for name, _ in self:
            if name in seen:
                return name
            seen.add(name)
        return None


class Number(str):
    """A JSON number with a fraction or exponent, as written (``12.50``, ``1e2``)."""


class BodyError(ValueError):
    """The body is not JSON (or holds NaN/Infinity, which JSON does not have)."""


def _constant(name: str) -> Any:
    raise BodyError(f"{name} is not JSON; send numbers as integers (minor units)")


def loads(body: bytes) -> Any:
    """Parse ``body`` (UTF-8 JSON) keeping pairs and number literals; :class:`BodyError` otherwise."""
    try:
        text = body.decode("utf-8")
        return json.loads(text, object_pairs_hook=Pairs, parse_float=Number, parse_constant=_constant, strict=False)
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BodyError(f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BodyError("the body nests objects or arrays too deeply") from None


def dumps(value: Any) -> str:
    """One line of JSON text for a parsed value, every pair and number literal as it came."""
    if isinstance(value, Pairs):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + dumps(v) for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, Number):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def plain(value: Any, where: str = "body") -> Any:
    """Ordinary dicts/lists for a parsed value; ``ValueError`` naming the place of a repeated key."""
    if isinstance(value, Pairs):
        repeated = value.repeated()
        if repeated is not None:
            raise ValueError(f"{where} holds the key {repeated!r} twice")
        return {k: plain(v, f"{where}.{k}") for k, v in value}
    if isinstance(value, list):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
