"""An independent Sigma evaluator for the tests: rules parsed by pySigma (which also
applies the modifiers: wildcards, contains/startswith/endswith, all, base64,
base64offset, cidr, re and its flags, exists, fieldref, cased), evaluated here over
the raw CloudTrail JSON records, parsed by Python's json module. It shares no code
with trailpack (Rust, rsigma, Arrow columns).

Usage: sigma_eval.py RULES_DIR RAW_ROOT   -> one JSON line per match:
       {"rule_id": ..., "rule_title": ..., "eventid": ..., "eventtime": ...}
RAW_ROOT holds CloudTrail files (*.json.gz or *.json, {"Records": [...]}) at any depth.
"""

import base64
import gzip
import ipaddress
import json
import os
import re
import sys

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaConditionError
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

MISSING = object()


def lookup(record, path):
    """Values at a dotted path; arrays on the way are walked item by item."""
    out = []

    def walk(v, keys):
        if not keys:
            out.append(v)
            return
        if isinstance(v, dict):
            if keys[0] in v:
                walk(v[keys[0]], keys[1:])
        elif isinstance(v, list):
            for item in v:
                walk(item, keys)

    walk(record, path.split("."))
    return out


def leaves(v):
    """Scalar values of a value (arrays flattened; objects are not leaves)."""
    if isinstance(v, list):
        for i in v:
            yield from leaves(i)
    else:
        yield v


def as_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return v
    return None


def string_regex(s, cased):
    parts = []
    for p in s.s:
        if p == SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif p == SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        else:
            parts.append(re.escape(p))
    return re.compile("".join(parts), 0 if cased else re.IGNORECASE | re.DOTALL)


def match_scalar(value, expected, record):
    if isinstance(expected, SigmaExpansion):
        return any(match_scalar(value, e, record) for e in expected.values)
    if isinstance(expected, SigmaNull):
        return value is None
    if value is None:
        return False
    if isinstance(expected, SigmaCasedString):
        text = as_text(value)
        return text is not None and string_regex(expected, True).fullmatch(text) is not None
    if isinstance(expected, SigmaString):
        text = as_text(value)
        return text is not None and string_regex(expected, False).fullmatch(text) is not None
    if isinstance(expected, SigmaNumber):
        if isinstance(value, bool):
            return False
        if isinstance(value, (int, float)):
            return value == expected.number
        return isinstance(value, str) and value == str(expected.number)
    if isinstance(expected, SigmaBool):
        return value is expected.boolean or as_text(value) == ("true" if expected.boolean else "false")
    if isinstance(expected, SigmaRegularExpression):
        flags = 0
        for f in expected.flags:
            flags |= {
                SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
                SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
                SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
            }[f]
        text = as_text(value)
        return text is not None and re.search(expected.regexp.original, text, flags) is not None
    if isinstance(expected, SigmaCIDRExpression):
        try:
            return ipaddress.ip_address(str(value)) in expected.network
        except ValueError:
            return False
    raise NotImplementedError(type(expected).__name__)


def match_field(record, field, expected):
    values = lookup(record, field)
    if isinstance(expected, SigmaExists):
        present = any(v is not None for v in values)
        return present == expected.exists
    if isinstance(expected, SigmaNull):
        return not values or any(v is None for v in leaves(values))
    if isinstance(expected, SigmaFieldReference):
        others = [as_text(v) for v in leaves(lookup(record, expected.field))]
        return any(as_text(v) in others for v in leaves(values) if as_text(v) is not None)
    return any(match_scalar(v, expected, record) for v in leaves(values))


def all_strings(v):
    if isinstance(v, dict):
        for i in v.values():
            yield from all_strings(i)
    elif isinstance(v, list):
        for i in v:
            yield from all_strings(i)
    elif v is not None:
        t = as_text(v)
        if t is not None:
            yield t


def evaluate(node, record):
    if isinstance(node, ConditionAND):
        return all(evaluate(a, record) for a in node.args)
    if isinstance(node, ConditionOR):
        return any(evaluate(a, record) for a in node.args)
    if isinstance(node, ConditionNOT):
        return not evaluate(node.args[0], record)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return match_field(record, node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return any(match_scalar(s, node.value, record) for s in all_strings(record))
    raise NotImplementedError(type(node).__name__)


def records(root):
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            if "CloudTrail-Digest" in path or not (name.endswith(".json.gz") or name.endswith(".json")):
                continue
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                text = f.read()
            decoder = json.JSONDecoder()
            i = 0
            while i < len(text):
                while i < len(text) and text[i].isspace():
                    i += 1
                if i >= len(text):
                    break
                doc, i = decoder.raw_decode(text, i)
                for r in doc.get("Records", []):
                    yield r


def main():
    rules_dir, raw_root = sys.argv[1], sys.argv[2]
    collection = SigmaCollection.load_ruleset([rules_dir], collect_errors=True)
    rules = []
    for rule in collection.rules:
        ls = getattr(rule, "logsource", None)
        detection = getattr(rule, "detection", None)
        if detection is None or ls is None or ls.product != "aws" or ls.service != "cloudtrail":
            continue
        try:
            conditions = [c.parsed for c in detection.parsed_condition]
        except SigmaConditionError:
            # Aggregations (`| count()`): not evaluated, as trailpack skips them.
            continue
        rules.append((rule, conditions))
    for record in records(raw_root):
        for rule, conditions in rules:
            if any(evaluate(c, record) for c in conditions):
                print(json.dumps({
                    "rule_id": str(rule.id) if rule.id else rule.title,
                    "rule_title": rule.title,
                    "eventid": record.get("eventID"),
                    "eventtime": record.get("eventTime"),
                }))


if __name__ == "__main__":
    main()
