#!/usr/bin/python3
"""Checks one HTTP answer against openapi/faceid-api.json: the path template and method exist,
the status is one the spec lists, and a JSON body matches that status's schema (python3-jsonschema).
  check_openapi.py SPEC METHOD TEMPLATE STATUS BODY_FILE"""
import json
import sys

import jsonschema

spec_path, method, template, status, body = sys.argv[1:6]
spec = json.load(open(spec_path))
path = spec["paths"][template]
op = path.get(method.lower())
if op is None:  # a method the path does not have: only 405 with an error is right
    assert status == "405", f"{method} {template}: not in the spec, so 405 was due, not {status}"
    op = {"responses": {"405": {"$ref": "#/components/responses/Error"}}}
resp = op["responses"].get(status)
assert resp is not None, f"{method} {template}: status {status} is not in the spec ({sorted(op['responses'])})"
if "$ref" in resp:
    resp = spec["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
schema = resp.get("content", {}).get("application/json", {}).get("schema")
if schema is not None:
    resolver = jsonschema.RefResolver.from_schema(spec)
    jsonschema.validate(json.load(open(body)), schema, resolver=resolver)
