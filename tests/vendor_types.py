"""
Check a JSON body against the vendor client's types (``pingintel_api/sov_fixer/types.py``): every
field a ``TypedDict`` names, of its type, and no field it does not name.

JSON has no datetime: a field typed ``datetime`` holds an ISO 8601 string. ``ID_FIELDS`` lists
the one deliberate difference: the client types ``UpdateData``'s SOV and SUD IDs ``int``, where
every other route and type has them as strings (``s-no-ping-hggcsk-r001``), so strings they are.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from typing import Any

#: (TypedDict, field) pairs whose IDs are strings, as everywhere else in the API.
ID_FIELDS = {("UpdateData", "sovid"), ("UpdateData", "sudid"), ("UpdateData", "original_sovid")}


def vendor_type(name: str) -> Any:
    from pingintel_api.sov_fixer import types as vendor

    return getattr(vendor, name)


def problems(value: Any, expected: Any, where: str = "body") -> list[str]:
    """What is wrong with ``value`` as an ``expected`` (a type from the vendor's module); [] if nothing."""
    if expected is Any:
        return []
    if typing.is_typeddict(expected):
        return _typed_dict(value, expected, where)
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        options = [problems(value, option, where) for option in typing.get_args(expected)]
        return [] if any(not found for found in options) else min(options, key=len)
    if origin is typing.Literal:
        return (
            []
            if value in typing.get_args(expected)
            else [f"{where}: {value!r} not in {typing.get_args(expected)}"]
        )
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        (item,) = typing.get_args(expected)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        key_type, item = typing.get_args(expected)
        return [
            p
            for k, v in value.items()
            for p in problems(k, key_type, where) + problems(v, item, f"{where}.{k}")
        ]
    if expected is type(None):
        return [] if value is None else [f"{where}: {value!r} is not null"]
    if expected is dt.datetime:
        try:
            dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return [f"{where}: {value!r} is not an ISO 8601 time"]
        return [] if isinstance(value, str) else [f"{where}: {value!r} is not a string"]
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        return (
            []
            if value in {m.value for m in expected}
            else [f"{where}: {value!r} not one of {expected.__name__}"]
        )
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not a number"]
    if expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not an integer"]
    if isinstance(expected, type):
        return [] if isinstance(value, expected) else [f"{where}: {value!r} is not {expected.__name__}"]
    raise TypeError(f"{where}: no rule for {expected!r}")


def _typed_dict(value: Any, expected: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: {type(value).__name__}, not a {expected.__name__}"]
    hints = typing.get_type_hints(expected)
    found = [f"{where}.{k}: no such field in {expected.__name__}" for k in value if k not in hints]
    found += [
        f"{where}.{k}: missing ({expected.__name__})" for k in expected.__required_keys__ if k not in value
    ]
    for key, hint in hints.items():
        if key in value:
            if (expected.__name__, key) in ID_FIELDS:
                hint = str | None
            found += problems(value[key], hint, f"{where}.{key}")
    return found
