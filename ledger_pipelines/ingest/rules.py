"""Posting rules as configuration: which ledger rows each event type becomes.

The built-in rules (``builtin_rules.yaml``, the contract's types) are merged with an optional
user file or folder (``SUBLEDGER_RULES_PATH``): an entry under ``event_types`` replaces the
built-in entry of the same type, ``null`` removes it, ``account_types`` are added/overridden.
docs/posting-rules.md documents the format; this module loads and *checks* it, so a bad rule
fails at start-up with ``<file>:<line>: rule '<type>': <problem>`` instead of mis-posting events.

Actions:

``post``
    fixed legs from account templates (``assets:receivables:{subscription_id}``) on one amount
    (``{amount}`` or a product such as ``{payload.quantity} * {payload.unit_amount}``) and one
    currency; as many debit legs as credit legs, so every posting balances by construction.
``journal``
    legs, status and description from the payload (``journal.posted``).
``transition``
    moves a pending transaction to ``posted``/``archived``; target by event id or reference.
``reverse``
    posts the mirror image of a transaction; target by event id or reference.
``correct``
    reverses the current posting of a reference and posts a replacement (``usage.corrected``).

Templates: ``{name}`` with ``name`` an envelope field (event_id, event_type, subscription_id,
customer_id, amount, currency) or ``payload.<field>`` declared in the rule's ``payload`` section;
``{name?}`` is optional (the whole template is then absent when the field is); ``{{``/``}}`` are
literal braces.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ledger_pipelines.accounting.accounts import NORMAL_BALANCES, account_code_problem, account_type_problem

BUILTIN_RULES_PATH = Path(__file__).with_name("builtin_rules.yaml")

ACTIONS = ("post", "journal", "transition", "reverse", "correct")
TEMPLATE_ENVELOPE_FIELDS = ("event_id", "event_type", "subscription_id", "customer_id", "amount", "currency")
REQUIRABLE_ENVELOPE_FIELDS = ("subscription_id", "customer_id", "amount", "currency", "recorded_at")
FIELD_TYPES = ("string", "text", "integer", "date", "timestamp", "enum", "any")
BALANCES = ("posted", "pending", "available")
OPS = ("gte", "lte", "eq")
DIRECTIONS = ("debit", "credit")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

# Journal payloads are fixed by the contract.
JOURNAL_PAYLOAD_FIELDS = ("legs", "status", "description")


class RuleError(ValueError):
    """A posting rule file is invalid; the message names the file, line, rule and the fix."""


# -- model ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placeholder:
    name: str  # 'subscription_id' or 'payload.plan_id'
    optional: bool = False

    @property
    def payload_field(self) -> str | None:
        return self.name.split(".", 1)[1] if self.name.startswith("payload.") else None


@dataclass(frozen=True)
class Template:
    """Literal text and placeholders, e.g. ``revenue:subscriptions:{payload.plan_id}``."""

    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    @property
    def is_constant(self) -> bool:
        return not self.placeholders


@dataclass(frozen=True)
class AmountExpr:
    """A product of integer placeholders and integer literals (``{amount}`` by default)."""

    source: str
    factors: tuple[Placeholder | int, ...]


@dataclass(frozen=True)
class Condition:
    balance: str  # posted | pending | available
    op: str  # gte | lte | eq
    amount: int


@dataclass(frozen=True)
class LegRule:
    direction: str
    account: Template
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class PayloadField:
    name: str
    type: str
    required: bool = True
    min: int | None = None
    values: tuple[str, ...] = ()
    max_length: int = 200


@dataclass(frozen=True)
class PostingSpec:
    """What a ``post`` rule (or a correction's replacement) writes."""

    status: str
    amount: AmountExpr
    currency: Template
    reference: Template | None
    description: Template | None
    legs: tuple[LegRule, ...]


@dataclass(frozen=True)
class Rule:
    event_type: str
    action: str
    origin: str  # "<file>:<line>"
    requires: tuple[str, ...] = ()
    payload: dict[str, PayloadField] = field(default_factory=dict)
    posting: PostingSpec | None = None  # post; correct (the replacement)
    reference: Template | None = None  # journal
    description: Template | None = None  # journal
    to_status: str | None = None  # transition
    target_event_id: Template | None = None  # transition, reverse
    target_reference: Template | None = None  # transition, reverse, correct
    reason: Template | None = None  # reverse
    from_target: tuple[str, ...] = ()  # correct: payload fields taken from the corrected posting

    @property
    def envelope_required(self) -> tuple[str, ...]:
        """Envelope fields this rule needs (declared ``requires`` plus non-optional placeholders)."""
        needed = list(self.requires)
        for placeholder in self.placeholders():
            if not placeholder.optional and placeholder.payload_field is None and placeholder.name not in needed:
                if placeholder.name in REQUIRABLE_ENVELOPE_FIELDS:
                    needed.append(placeholder.name)
        return tuple(n for n in REQUIRABLE_ENVELOPE_FIELDS if n in needed)

    def placeholders(self) -> list[Placeholder]:
        found: list[Placeholder] = []
        templates: list[Template | None] = [self.reference, self.description, self.target_event_id,
                                            self.target_reference, self.reason]
        if self.posting is not None:
            templates += [self.posting.currency, self.posting.reference, self.posting.description]
            templates += [leg.account for leg in self.posting.legs]
            found += [f for f in self.posting.amount.factors if isinstance(f, Placeholder)]
        for template in templates:
            if template is not None:
                found += template.placeholders
        return found


@dataclass(frozen=True)
class RuleSet:
    """The merged rules: event type -> rule, plus the configured account types."""

    rules: dict[str, Rule]
    account_types: dict[str, str]
    sources: tuple[str, ...] = ()

    def __contains__(self, event_type: object) -> bool:
        return event_type in self.rules

    def get(self, event_type: str) -> Rule | None:
        return self.rules.get(event_type)

    @property
    def event_types(self) -> list[str]:
        return sorted(self.rules)


# -- YAML with line numbers --------------------------------------------------------------------------

class _LineDict(dict):
    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    mapping = _LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise RuleError(f"{loader.name}:{key_node.start_mark.line + 1}: keys must be text, not {key!r}")
        if key in mapping:
            raise RuleError(f"{loader.name}:{key_node.start_mark.line + 1}: the key {key!r} appears twice in one mapping")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> _LineDict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{path}: cannot read the posting rules file ({exc.strerror or exc}).") from exc
    loader = _Loader(text)
    loader.name = str(path)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if document is None:
        document = _LineDict()
        document.key_lines = {}
    if not isinstance(document, _LineDict):
        raise RuleError(f"{path}:1: the rules file must be a mapping with 'event_types' (and optionally 'account_types').")
    return document


# -- loading ----------------------------------------------------------------------------------------

def load_rules(path: str | Path | None = None, *, environ: dict[str, str] | None = None) -> RuleSet:
    """The built-in rules merged with ``path`` (a YAML file or a folder of them).

    Without ``path`` the ``SUBLEDGER_RULES_PATH`` variable is used, if set. Raises
    :class:`RuleError` for any invalid rule.
    """
    if path is None:
        env = os.environ if environ is None else environ
        path = env.get("SUBLEDGER_RULES_PATH") or None
    files = [BUILTIN_RULES_PATH]
    if path is not None:
        user = Path(path).expanduser()
        if user.is_dir():
            files += sorted([*user.glob("*.yaml"), *user.glob("*.yml")])
        elif user.exists():
            files.append(user)
        else:
            raise RuleError(f"{user}: the posting rules path does not exist; fix SUBLEDGER_RULES_PATH or create the file.")
    return load_rule_files(files)


def load_rule_files(files: list[Path]) -> RuleSet:
    """Merge the given rule files in order (later entries replace earlier ones) and check them."""
    raw_rules: dict[str, tuple[Any, str, int]] = {}
    account_types: dict[str, str] = {}
    for path in files:
        document = _read_yaml(path)
        unknown = sorted(set(document) - {"version", "account_types", "event_types"})
        if unknown:
            line = document.key_lines[unknown[0]]
            raise RuleError(f"{path}:{line}: unknown top-level key {unknown[0]!r}; use 'version', 'account_types', 'event_types'.")
        version = document.get("version", 1)
        if version != 1:
            raise RuleError(f"{path}:{document.key_lines.get('version', 1)}: unsupported rules version {version!r}; this platform reads version 1.")
        types = document.get("account_types") or {}
        if not isinstance(types, dict):
            raise RuleError(f"{path}:{document.key_lines['account_types']}: 'account_types' must map a top-level segment to debit or credit.")
        for top, normal in types.items():
            line = types.key_lines.get(top, 0) if isinstance(types, _LineDict) else 0
            if normal not in NORMAL_BALANCES:
                raise RuleError(f"{path}:{line}: account type {top!r} must be 'debit' or 'credit', not {normal!r}.")
            problem = account_type_problem(top)
            if problem:
                raise RuleError(f"{path}:{line}: account type {top!r} is not a valid top-level segment: {problem}.")
            account_types[top] = normal
        events = document.get("event_types") or {}
        if not isinstance(events, dict):
            raise RuleError(f"{path}:{document.key_lines['event_types']}: 'event_types' must map event type names to rules.")
        for event_type, body in events.items():
            line = events.key_lines.get(event_type, 0) if isinstance(events, _LineDict) else 0
            if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
                raise RuleError(f"{path}:{line}: {event_type!r} is not a valid event type name (letters, digits, '.', '_', '-').")
            if body is None:
                raw_rules.pop(event_type, None)
            else:
                raw_rules[event_type] = (body, str(path), line)
    rules = {event_type: _parse_rule(event_type, body, origin, line, account_types)
             for event_type, (body, origin, line) in raw_rules.items()}
    return RuleSet(rules=rules, account_types=account_types, sources=tuple(str(f) for f in files))


# -- parsing one rule ----------------------------------------------------------------------------------

_ALLOWED_KEYS = {
    "post": {"action", "requires", "payload", "status", "amount", "currency", "reference", "description", "legs"},
    "journal": {"action", "requires", "payload", "reference", "description"},
    "transition": {"action", "requires", "payload", "to", "target_event_id", "target_reference"},
    "reverse": {"action", "requires", "payload", "target_event_id", "target_reference", "reason"},
    "correct": {"action", "requires", "payload", "target_reference", "from_target", "replacement"},
}
_REPLACEMENT_KEYS = {"status", "amount", "currency", "reference", "description", "legs"}


class _Context:
    def __init__(self, event_type: str, origin: str, line: int):
        self.event_type = event_type
        self.origin = origin
        self.line = line
        self.payload: dict[str, PayloadField] = {}
        self.from_target: tuple[str, ...] = ()

    def error(self, problem: str, node: Any = None, key: str | None = None) -> RuleError:
        line = self.line
        if isinstance(node, _LineDict):
            line = node.key_lines.get(key, node.line) if key else node.line
        return RuleError(f"{self.origin}:{line}: rule {self.event_type!r}: {problem}")


def _parse_rule(event_type: str, body: Any, origin: str, line: int, account_types: dict[str, str]) -> Rule:
    ctx = _Context(event_type, origin, line)
    if not isinstance(body, dict):
        raise ctx.error("a rule must be a mapping with at least 'action'.")
    action = body.get("action", "post")
    if action not in ACTIONS:
        raise ctx.error(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}.", body, "action")
    unknown = sorted(set(body) - _ALLOWED_KEYS[action])
    if unknown:
        raise ctx.error(f"unknown key {unknown[0]!r} for action {action!r}; allowed: {', '.join(sorted(_ALLOWED_KEYS[action]))}.",
                        body, unknown[0])
    requires = body.get("requires") or []
    if not isinstance(requires, list) or any(r not in REQUIRABLE_ENVELOPE_FIELDS for r in requires):
        raise ctx.error(f"'requires' must list envelope fields among {', '.join(REQUIRABLE_ENVELOPE_FIELDS)}.", body, "requires")
    payload = _parse_payload(ctx, body.get("payload"), body)
    if action == "journal":
        for name in JOURNAL_PAYLOAD_FIELDS:
            if name in payload:
                raise ctx.error(f"payload field {name!r} is defined by the journal action itself; remove it.", body, "payload")
        payload = {
            "legs": PayloadField("legs", "any"),
            "status": PayloadField("status", "enum", required=False, values=("posted", "pending")),
            "description": PayloadField("description", "text", required=False, max_length=10_000),
            **payload,
        }
    ctx.payload = payload
    rule = Rule(event_type=event_type, action=action, origin=f"{origin}:{line}", requires=tuple(requires), payload=payload)

    def template(key: str, node: Any = body, required: bool = False) -> Template | None:
        value = node.get(key)
        if value is None:
            if required:
                raise ctx.error(f"'{key}' is required for action {action!r}.")
            return None
        return _parse_template(ctx, value, node, key)

    if action == "post":
        rule = replace(rule, posting=_parse_posting(ctx, body, account_types))
    elif action == "journal":
        rule = replace(rule, reference=template("reference"), description=template("description"))
    elif action in ("transition", "reverse"):
        target_id, target_ref = template("target_event_id"), template("target_reference")
        if (target_id is None) == (target_ref is None):
            raise ctx.error("name the target with exactly one of 'target_event_id' or 'target_reference'.")
        rule = replace(rule, target_event_id=target_id, target_reference=target_ref)
        if action == "transition":
            to = body.get("to")
            if to not in ("posted", "archived"):
                raise ctx.error(f"'to' must be 'posted' or 'archived', not {to!r}.", body, "to" if "to" in body else None)
            rule = replace(rule, to_status=to)
        else:
            rule = replace(rule, reason=template("reason"))
    elif action == "correct":
        from_target = body.get("from_target") or []
        if not isinstance(from_target, list):
            raise ctx.error("'from_target' must be a list such as [payload.unit_amount].", body, "from_target")
        fields = []
        for item in from_target:
            name = item.split(".", 1)[1] if isinstance(item, str) and item.startswith("payload.") else None
            if name is None or name not in payload:
                raise ctx.error(f"'from_target' entry {item!r} must name a declared payload field as payload.<field>.", body, "from_target")
            if payload[name].required:
                raise ctx.error(f"payload.{name} is in 'from_target', so declare it with 'required: false'.", body, "from_target")
            fields.append(name)
        ctx.from_target = tuple(fields)
        rule = replace(rule, from_target=tuple(fields), target_reference=template("target_reference", required=True))
        replacement = body.get("replacement")
        if not isinstance(replacement, dict):
            raise ctx.error("'replacement' (the corrected posting: amount, legs, reference, ...) is required.")
        extra = sorted(set(replacement) - _REPLACEMENT_KEYS)
        if extra:
            raise ctx.error(f"unknown key {extra[0]!r} in 'replacement'; allowed: {', '.join(sorted(_REPLACEMENT_KEYS))}.", replacement, extra[0])
        rule = replace(rule, posting=_parse_posting(ctx, replacement, account_types))
    return rule


def _parse_payload(ctx: _Context, node: Any, body: Any) -> dict[str, PayloadField]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise ctx.error("'payload' must map field names to types (string, text, integer, date, timestamp, enum, any).", body, "payload")
    fields: dict[str, PayloadField] = {}
    for name, spec in node.items():
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            raise ctx.error(f"payload field name {name!r} must be letters, digits and '_' (at most 64).", node, name)
        if isinstance(spec, str):
            required = not spec.endswith("?")
            spec = {"type": spec.rstrip("?"), "required": required}
        if not isinstance(spec, dict):
            raise ctx.error(f"payload field {name!r}: give a type such as 'string' or a mapping with 'type'.", node, name)
        unknown = sorted(set(spec) - {"type", "required", "min", "values", "max_length"})
        if unknown:
            raise ctx.error(f"payload field {name!r}: unknown key {unknown[0]!r}.", node, name)
        kind = spec.get("type")
        if kind not in FIELD_TYPES:
            raise ctx.error(f"payload field {name!r}: type {kind!r} is not one of {', '.join(FIELD_TYPES)}.", node, name)
        values = spec.get("values") or ()
        if kind == "enum" and (not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values)):
            raise ctx.error(f"payload field {name!r}: an enum needs 'values', a list of strings.", node, name)
        minimum = spec.get("min")
        if minimum is not None and (kind != "integer" or not isinstance(minimum, int) or isinstance(minimum, bool)):
            raise ctx.error(f"payload field {name!r}: 'min' applies to integer fields and must be an integer.", node, name)
        required = spec.get("required", True)
        if not isinstance(required, bool):
            raise ctx.error(f"payload field {name!r}: 'required' must be true or false.", node, name)
        max_length = spec.get("max_length", 10_000 if kind == "text" else 200)
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
            raise ctx.error(f"payload field {name!r}: 'max_length' must be a positive integer.", node, name)
        fields[name] = PayloadField(name, kind, required, minimum, tuple(values), max_length)
    return fields


def _parse_template(ctx: _Context, value: Any, node: Any, key: str) -> Template:
    if not isinstance(value, str):
        raise ctx.error(f"'{key}' must be a text template, not {value!r}.", node, key)
    parts: list[str | Placeholder] = []
    position = 0
    for match in _PLACEHOLDER.finditer(value):
        if match.start() > position:
            parts.append(value[position:match.start()])
        token = match.group(0)
        if token == "{{":
            parts.append("{")
        elif token == "}}":
            parts.append("}")
        elif match.group(1) is None:
            raise ctx.error(f"'{key}' has an unmatched {token!r} in {value!r}; write '{{{{' or '}}}}' for a literal brace.", node, key)
        else:
            name = match.group(1).strip()
            placeholder = Placeholder(name.rstrip("?").strip(), name.endswith("?"))
            _check_placeholder(ctx, placeholder, node, key)
            parts.append(placeholder)
        position = match.end()
    if position < len(value):
        parts.append(value[position:])
    merged: list[str | Placeholder] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        else:
            merged.append(part)
    return Template(value, tuple(merged))


def _parse_amount(ctx: _Context, value: Any, node: Any) -> AmountExpr:
    if value is None:
        value = "{amount}"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ctx.error(f"'amount' must be an expression like '{{amount}}' or '{{payload.quantity}} * {{payload.unit_amount}}', not {value!r}.", node, "amount")
    factors: list[Placeholder | int] = []
    for term in value.split("*"):
        term = term.strip()
        match = re.fullmatch(r"\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}", term)
        if match:
            placeholder = Placeholder(match.group(1))
            _check_placeholder(ctx, placeholder, node, "amount")
            if placeholder.name != "amount" and ctx.payload[placeholder.payload_field or ""].type != "integer":
                raise ctx.error(f"amount factor {{{placeholder.name}}} must be the envelope 'amount' or an integer payload field.", node, "amount")
            factors.append(placeholder)
        elif re.fullmatch(r"-?\d+", term):
            factors.append(int(term))
        else:
            raise ctx.error(f"'amount' term {term!r} is neither a placeholder like '{{payload.quantity}}' nor an integer; "
                            "amounts are a product of integer fields.", node, "amount")
    return AmountExpr(value, tuple(factors))


def _parse_posting(ctx: _Context, node: dict, account_types: dict[str, str]) -> PostingSpec:
    status = node.get("status", "posted")
    if status not in ("posted", "pending"):
        raise ctx.error(f"'status' must be 'posted' or 'pending', not {status!r}.", node, "status")
    currency = _parse_template(ctx, node.get("currency", "{currency}"), node, "currency")
    reference = _parse_template(ctx, node["reference"], node, "reference") if node.get("reference") is not None else None
    description = _parse_template(ctx, node["description"], node, "description") if node.get("description") is not None else None
    legs_node = node.get("legs")
    if not isinstance(legs_node, list) or len(legs_node) < 2:
        raise ctx.error("'legs' must list at least two legs (a debit and a credit).", node, "legs" if "legs" in node else None)
    legs = []
    for leg in legs_node:
        if not isinstance(leg, dict):
            raise ctx.error("each leg must be a mapping with 'direction' and 'account'.", node, "legs")
        unknown = sorted(set(leg) - {"direction", "account", "conditions"})
        if unknown:
            raise ctx.error(f"unknown leg key {unknown[0]!r}; a leg has direction, account and optional conditions.", leg, unknown[0])
        direction = leg.get("direction")
        if direction not in DIRECTIONS:
            raise ctx.error(f"leg direction must be 'debit' or 'credit', not {direction!r}.", leg, "direction")
        if "account" not in leg:
            raise ctx.error("a leg needs an 'account' template such as 'assets:receivables:{subscription_id}'.", leg)
        account = _parse_template(ctx, leg["account"], leg, "account")
        _check_account_template(ctx, account, leg, account_types)
        legs.append(LegRule(direction, account, _parse_conditions(ctx, leg.get("conditions"), leg)))
    debits = sum(1 for leg in legs if leg.direction == "debit")
    credits = len(legs) - debits
    if debits == 0 or debits != credits:
        raise ctx.error(f"the legs do not balance: {debits} debit and {credits} credit leg(s) on one amount. Every leg of a "
                        "'post' rule carries the same amount, so give as many debits as credits.", node, "legs")
    return PostingSpec(status, _parse_amount(ctx, node.get("amount"), node), currency, reference, description, tuple(legs))


def _parse_conditions(ctx: _Context, node: Any, leg: Any) -> tuple[Condition, ...]:
    if node is None:
        return ()
    if not isinstance(node, dict):
        raise ctx.error("leg 'conditions' must look like {available: {gte: 0}}.", leg, "conditions")
    out = []
    for balance, bounds in node.items():
        if balance not in BALANCES or not isinstance(bounds, dict):
            raise ctx.error(f"condition balance {balance!r} must be one of {', '.join(BALANCES)} mapping to e.g. {{gte: 0}}.", leg, "conditions")
        for op, amount in bounds.items():
            if op not in OPS or not isinstance(amount, int) or isinstance(amount, bool) or not INT64_MIN <= amount <= INT64_MAX:
                raise ctx.error(f"condition {balance}.{op}: use gte, lte or eq with an integer amount in minor units.", leg, "conditions")
            out.append(Condition(balance, op, amount))
    return tuple(out)


def _check_account_template(ctx: _Context, account: Template, leg: Any, account_types: dict[str, str]) -> None:
    first = account.parts[0] if account.parts else ""
    top = first.split(":", 1)[0] if isinstance(first, str) and ":" in first else (first if account.is_constant else None)
    if not isinstance(top, str) or not top:
        raise ctx.error(f"account {account.source!r} must start with a fixed account type such as 'assets:'.", leg, "account")
    literal = "".join(p if isinstance(p, str) else "x" for p in account.parts)
    problem = account_code_problem(literal, account_types)
    if problem:
        raise ctx.error(f"account {account.source!r} is not a valid code path under a configured account type: {problem} "
                        "(1-32 segments of 1-64 printable characters, NFC; add a new type under account_types).", leg, "account")


def _check_placeholder(ctx: _Context, placeholder: Placeholder, node: Any, key: str) -> None:
    """A placeholder must name an envelope field or a declared, renderable payload field."""
    name = placeholder.name
    payload_field = placeholder.payload_field
    if payload_field is None:
        if name not in TEMPLATE_ENVELOPE_FIELDS:
            raise ctx.error(f"unknown placeholder {{{name}}} in '{key}': use an envelope field "
                            f"({', '.join(TEMPLATE_ENVELOPE_FIELDS)}) or payload.<field> declared under 'payload'.", node, key)
        return
    spec = ctx.payload.get(payload_field)
    if spec is None:
        raise ctx.error(f"unknown placeholder {{{name}}} in '{key}': declare the payload field {payload_field!r} under 'payload' "
                        f"(declared: {', '.join(sorted(ctx.payload)) or 'none'}).", node, key)
    if spec.type == "any":
        raise ctx.error(f"placeholder {{{name}}} in '{key}' names a field of type 'any', which cannot be rendered; give it a type.", node, key)
    if not spec.required and not placeholder.optional and payload_field not in ctx.from_target:
        raise ctx.error(f"placeholder {{{name}}} in '{key}' names an optional payload field; write {{{name}?}} or make the "
                        "field required.", node, key)
