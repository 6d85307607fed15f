#!/usr/bin/env python3
"""Writes the suite seeds of Fuzz/corpus/schema/ from the JSON Schema test suite.

Usage: python3 Fuzz/corpus/schema_seeds.py [path/to/jsonschema-suite]  (default ../shared/jsonschema-suite)
Each seed is `schema NUL instance` (the fuzz-schema input layout): the first test group of each file
named below with its first two instances, skipping groups that need remote documents.
"""
import json, os, sys

FILES = [
    "ref", "dynamicRef", "anchor", "defs", "pattern", "patternProperties", "multipleOf", "maximum",
    "unevaluatedProperties", "unevaluatedItems", "infinite-loop-detection", "uniqueItems", "enum",
    "const", "if-then-else", "contains", "items", "prefixItems", "propertyNames", "dependentSchemas",
    "oneOf", "type", "optional/bignum", "optional/ecmascript-regex", "optional/non-bmp-regex",
    "optional/float-overflow", "optional/format/regex", "optional/format/date-time",
    "optional/format/idn-hostname", "optional/format/uri", "optional/format/ipv6", "optional/format/email",
]

def main():
    suite = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../../shared/jsonschema-suite")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema")
    for draft in ["draft2020-12", "draft7"]:
        for name in FILES:
            path = os.path.join(suite, "tests", draft, name + ".json")
            if not os.path.exists(path):
                continue
            groups = [g for g in json.load(open(path)) if "http://localhost" not in json.dumps(g["schema"])]
            for g in groups[:1]:
                schema = dict(g["schema"], **{"$schema": "http://json-schema.org/draft-07/schema#"}) \
                    if draft == "draft7" and isinstance(g["schema"], dict) else g["schema"]
                for i, test in enumerate(g["tests"][:2]):
                    seed = json.dumps(schema, separators=(",", ":")).encode() + b"\0" + \
                        json.dumps(test["data"], separators=(",", ":")).encode()
                    if len(seed) > 4096:
                        continue
                    tag = name.replace("optional/", "").replace("format/", "format-")
                    with open(os.path.join(out, f"suite-{draft}-{tag}-{i}"), "wb") as f:
                        f.write(seed)

main()
