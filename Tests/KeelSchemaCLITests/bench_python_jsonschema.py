#!/usr/bin/env python3
"""Python `jsonschema` on the same inputs as `keel schema bench` (SchemaBenchmark.swift).

Run: python3 Tests/KeelSchemaCLITests/bench_python_jsonschema.py [PERF_DIR]
Prints ns per is_valid / per full iter_errors, best of 5 rounds, like the Swift benchmark.
The contract schema and instances are copies of SchemaBenchmark.contract*.
"""
import json, os, sys, time
import jsonschema

PERF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "jsonschema-suite", "perf")

CONTRACT = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
    "required": ["customerId", "amount", "currency", "lines"], "additionalProperties": False,
    "properties": {
        "customerId": {"type": "string", "pattern": "^cus_[A-Za-z0-9]{8,32}$"},
        "amount": {"type": "integer", "minimum": 1, "maximum": 100000000},
        "currency": {"enum": ["EUR", "USD", "GBP", "CHF", "JPY"]},
        "idempotencyKey": {"type": "string", "minLength": 8, "maxLength": 64},
        "metadata": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 500}, "maxProperties": 20},
        "lines": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"$ref": "#/$defs/line"}}},
    "$defs": {"line": {"type": "object", "required": ["sku", "quantity", "unitPrice"],
        "properties": {"sku": {"type": "string", "minLength": 1}, "quantity": {"type": "integer", "minimum": 1},
            "unitPrice": {"type": "number", "minimum": 0, "multipleOf": 0.01}}}}}
VALID = {"customerId": "cus_4f9Qa8ZtLm", "amount": 4599, "currency": "EUR", "idempotencyKey": "order-2024-0001",
    "metadata": {"orderId": "A-1001", "channel": "web"},
    "lines": [{"sku": "BOOK-1", "quantity": 2, "unitPrice": 12.5}, {"sku": "PEN-3", "quantity": 1, "unitPrice": 20.99}]}
INVALID = {"customerId": "cus_4f9Qa8ZtLm", "amount": 0, "currency": "EUR",
    "lines": [{"sku": "BOOK-1", "quantity": 2, "unitPrice": 12.555}]}


def measure(fn, round_ms=200):
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n): fn()
        if time.perf_counter() - t > round_ms / 10000 or n > 1 << 20: break
        n *= 2
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n * 10): fn()
        best = min(best, (time.perf_counter() - t) / (n * 10))
    return best * 1e9


cases = []
if os.path.exists(os.path.join(PERF, "fast_schema.json")):
    load = lambda n: json.load(open(os.path.join(PERF, n)))
    schema = load("fast_schema.json")
    cases += [("perf fast_valid", schema, load("fast_valid.json"), True),
              ("perf fast_invalid", schema, load("fast_invalid.json"), False)]
cases += [("contract valid", CONTRACT, VALID, True), ("contract invalid", CONTRACT, INVALID, False)]
from importlib.metadata import version
print("python jsonschema %s" % version("jsonschema"))
print("input                 is_valid ns/op   iter_errors ns/op")
for name, schema, instance, expected in cases:
    v = jsonschema.validators.validator_for(schema)(schema)
    assert v.is_valid(instance) == expected, name
    a = measure(lambda: v.is_valid(instance))
    b = measure(lambda: list(v.iter_errors(instance)))
    print("%-20s  %14.0f   %17.0f" % (name, a, b))
