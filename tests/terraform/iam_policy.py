"""Read IAM policies the way IAM does, for the few operators this stack's policies use.

The emulator stores trust policies but never evaluates their conditions (moto's
AssumeRoleWithWebIdentity accepts any token), so "a pull request's token is not trusted" has to be
decided here. Only StringEquals and StringLike are implemented, with IAM's rules (IAM User Guide,
"IAM JSON policy elements: Condition operators" and "Condition with multiple context keys or
values"): keys of one operator and operators of one statement are ANDed, values of one key are ORed,
matching is case-sensitive, StringLike knows only `*` and `?`, a missing key fails the condition, and
an explicit Deny wins. Any other operator raises, so a policy using one cannot pass by accident.
"""

from __future__ import annotations

import json
import re
from typing import Any

SUPPORTED_OPERATORS = {"StringEquals", "StringLike"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def document(policy: str | dict[str, Any]) -> dict[str, Any]:
    """IAM answers with a dict (boto3 decodes it) or a JSON string, depending on the call."""
    return json.loads(policy) if isinstance(policy, str) else policy


def like(pattern: str, value: str) -> bool:
    """StringLike: `*` is any run of characters, `?` one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def matches(operator: str, pattern: str, actual: str) -> bool:
    return pattern == actual if operator == "StringEquals" else like(pattern, actual)


def conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, keys in conditions.items():
        if operator not in SUPPORTED_OPERATORS:
            raise NotImplementedError(f"condition operator {operator} is not evaluated by this helper")
        for key, expected in keys.items():
            if key not in context:
                return False
            if not any(matches(operator, pattern, context[key]) for pattern in as_list(expected)):
                return False
    return True


def statement_applies(
    statement: dict[str, Any], action: str, principal: dict[str, str], context: dict[str, str]
) -> bool:
    if action not in as_list(statement.get("Action", [])):
        return False
    if "Principal" in statement:
        granted = statement["Principal"]
        if not any(value in as_list(granted.get(kind, [])) for kind, value in principal.items()):
            return False
    return conditions_hold(statement.get("Condition", {}), context)


def allows(policy: str | dict[str, Any], action: str, context: dict[str, str], principal: dict[str, str]) -> bool:
    """Does the policy allow `action` for this principal and request context (no Deny matching)?"""
    statements = as_list(document(policy)["Statement"])
    matching = [s for s in statements if statement_applies(s, action, principal, context)]
    return any(s["Effect"] == "Allow" for s in matching) and not any(s["Effect"] == "Deny" for s in matching)


def grants(policies: list[str | dict[str, Any]]) -> dict[str, set[str]]:
    """Action -> resources, over every Allow statement of the given permission policies."""
    result: dict[str, set[str]] = {}
    for policy in policies:
        for statement in as_list(document(policy)["Statement"]):
            assert statement["Effect"] == "Allow", statement
            assert "Condition" not in statement, statement
            assert "NotAction" not in statement, statement
            for action in as_list(statement["Action"]):
                result.setdefault(action, set()).update(as_list(statement["Resource"]))
    return result
