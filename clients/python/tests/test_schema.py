import dataclasses
import enum
import sys
from typing import Any, Dict, List, Literal, Optional, Tuple, TypedDict, Union

import pytest

from keel import schema_from_type
from keel._schema import from_json, to_json

try:
    from typing import Annotated
except ImportError:  # pragma: no cover
    from typing_extensions import Annotated


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Address:
    city: str
    zip: Optional[str] = None


@dataclasses.dataclass
class Person:
    name: Annotated[str, {"minLength": 1}]
    age: int
    tags: List[str] = dataclasses.field(default_factory=list)
    home: Optional[Address] = None
    color: Color = Color.RED


class Greeting(TypedDict):
    greeting: str


class Partial(TypedDict, total=False):
    note: str


def test_simple_and_container_types():
    assert schema_from_type(str) == {"type": "string"}
    assert schema_from_type(bool) == {"type": "boolean"}
    assert schema_from_type(Any) is True
    assert schema_from_type(Optional[int]) == {"type": ["integer", "null"]}
    assert schema_from_type(List[float]) == {"type": "array", "items": {"type": "number"}}
    assert schema_from_type(Dict[str, int]) == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert schema_from_type(Tuple[int, str])["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert schema_from_type(Literal["a", "b"]) == {"enum": ["a", "b"]}
    assert schema_from_type(Union[int, List[int]]) == {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}
    with pytest.raises(TypeError):
        schema_from_type(Dict[int, str])


def test_dataclass_and_typeddict():
    schema = schema_from_type(Person)
    assert schema["required"] == ["name", "age"]
    assert schema["properties"]["name"] == {"type": "string", "minLength": 1}
    assert schema["properties"]["home"]["anyOf"][0]["properties"]["city"] == {"type": "string"}
    assert schema["properties"]["color"] == {"enum": ["red", "blue"]}
    assert schema_from_type(Greeting) == {"type": "object", "properties": {"greeting": {"type": "string"}}, "required": ["greeting"]}
    assert "required" not in schema_from_type(Partial)


def test_dataclass_round_trip_ignores_unknown_fields():
    person = from_json(Person, {"name": "Ada", "age": 36, "home": {"city": "London"}, "color": "blue", "future": 1})
    assert person == Person("Ada", 36, [], Address("London"), Color.BLUE)
    assert to_json(person) == {"name": "Ada", "age": 36, "tags": [], "home": {"city": "London", "zip": None}, "color": "blue"}


@pytest.mark.skipif(sys.version_info < (3, 10), reason="X | Y syntax")
def test_pep604_unions():
    assert schema_from_type(eval("int | None")) == {"type": ["integer", "null"]}
