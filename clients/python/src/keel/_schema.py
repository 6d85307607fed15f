"""A small JSON Schema (2020-12) generator from Python type annotations."""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from typing import Any, Dict, List, Set, Union

try:  # Python >= 3.10
    _UnionType: Any = types.UnionType  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _UnionType = None

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__") and hasattr(tp, "__annotations__")


def schema_from_type(tp: Any) -> Union[Dict[str, Any], bool]:
    """Returns a JSON Schema for a type annotation.

    Supports str/int/float/bool/None, Any, list/Sequence/set/tuple, dict[str, X], Optional/Union,
    Literal, Enum, dataclasses and TypedDicts (nested), and ``Annotated[X, {extra schema}]``
    (dict metadata is merged in). Dataclass fields without defaults and TypedDict required keys
    are ``required``.

    Raises:
        TypeError: the type is recursive or not representable.
    """
    return _schema(tp, set())


def _schema(tp: Any, seen: Set[int]) -> Union[Dict[str, Any], bool]:
    if tp is Any or tp is object:
        return True
    if isinstance(tp, type) and tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    if tp is None:
        return {"type": "null"}
    if tp is dict or tp is typing.Dict:
        return {"type": "object"}
    if tp in (list, tuple, set, frozenset, typing.List):
        return {"type": "array"}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        schema = _schema(args[0], seen)
        for extra in args[1:]:
            if isinstance(extra, dict):
                schema = dict(schema) if isinstance(schema, dict) else {}
                schema.update(extra)
        return schema
    if origin is Union or (_UnionType is not None and origin is _UnionType):
        options = [_schema(arg, seen) for arg in args]
        if all(isinstance(o, dict) and set(o) == {"type"} and isinstance(o["type"], str) for o in options):
            return {"type": [o["type"] for o in options]}  # type: ignore[index]
        return {"anyOf": options}
    if origin is typing.Literal:
        return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
    if origin in (list, set, frozenset) or _is_abc(origin, "Sequence", "Set", "Iterable"):
        schema: Dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = _schema(args[0], seen)
        if origin in (set, frozenset):
            schema["uniqueItems"] = True
        return schema
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema(args[0], seen)}
        items = [_schema(arg, seen) for arg in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if origin is dict or _is_abc(origin, "Mapping"):
        schema = {"type": "object"}
        if args:
            if args[0] is not str:
                raise TypeError(f"JSON object keys are strings; cannot describe {tp!r}")
            schema["additionalProperties"] = _schema(args[1], seen)
        return schema
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        required = [
            f.name
            for f in dataclasses.fields(tp)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        ]
        return _object(tp, [f.name for f in dataclasses.fields(tp)], required, seen)
    if _is_typeddict(tp):
        hints = _hints(tp)
        required_keys = getattr(tp, "__required_keys__", set(hints) if tp.__total__ else set())
        return _object(tp, list(hints), [k for k in hints if k in required_keys], seen)
    raise TypeError(f"cannot derive a JSON Schema from {tp!r}")


def _is_abc(origin: Any, *names: str) -> bool:
    import collections.abc as abc

    return any(origin is getattr(abc, name) for name in names)


def _hints(tp: Any) -> Dict[str, Any]:
    module = sys.modules.get(tp.__module__)
    return typing.get_type_hints(tp, globalns=vars(module) if module else None, include_extras=True)


def _object(tp: Any, names: List[str], required: List[str], seen: Set[int]) -> Dict[str, Any]:
    if id(tp) in seen:
        raise TypeError(f"recursive type {tp.__name__} is not supported")
    seen = seen | {id(tp)}
    hints = _hints(tp)
    schema: Dict[str, Any] = {
        "type": "object",
        "properties": {name: _schema(hints.get(name, Any), seen) for name in names},
    }
    if required:
        schema["required"] = required
    return schema


def to_json(value: Any) -> Any:
    """Converts dataclasses (recursively), enums, tuples and sets into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(item) for item in value]
    return value


def from_json(tp: Any, value: Any) -> Any:
    """Builds a ``tp`` from JSON where that means something (dataclasses, enums, and lists,
    dicts and Optionals of them); returns ``value`` unchanged otherwise.

    Raises:
        TypeError, ValueError: the value does not fit the dataclass or enum.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return from_json(args[0], value)
    if value is None:
        return None
    if origin is Union or (_UnionType is not None and origin is _UnionType):
        non_null = [arg for arg in args if arg is not type(None)]
        return from_json(non_null[0], value) if len(non_null) == 1 else value
    if origin in (list, tuple, set, frozenset) and args and isinstance(value, list):
        return [from_json(args[0], item) for item in value]
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {key: from_json(args[1], item) for key, item in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, dict):
        hints = _hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        return tp(**{k: from_json(hints.get(k, Any), v) for k, v in value.items() if k in names})
    return value
