#!/usr/bin/python3
"""Checks one HTTP answer against openapi/faceid-api.json: the path template and method exist,
the status is one the spec lists, and a JSON body matches that status's schema (python3-jsonschema).
  check_openapi.py SPEC METHOD PATH STATUS BODY_FILE
PATH may be the request's own path (/api/v1/people/alice): the template it fits is looked up.
A path the spec does not have passes only as a 404."""
import json
import re
import sys

import jsonschema

spec_path, method, template, status, body = sys.argv[1:6]
spec = json.load(open(spec_path))
if template not in spec["paths"]:
    fits = [t for t in spec["paths"] if re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(t)), template)]
    if not fits:
        assert status == "404", f"{method} {template}: no such path in the spec, so 404 was due, not {status}"
        sys.exit(0)
    template = fits[0]
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


def plain(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it: type [T, "null"]."""
    if isinstance(node, dict):
        node = {k: plain(v) for k, v in node.items()}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    return [plain(v) for v in node] if isinstance(node, list) else node


spec = plain(spec)
schema = plain(schema)
if schema is not None:
    resolver = jsonschema.RefResolver.from_schema(spec)
    jsonschema.validate(json.load(open(body)), schema, resolver=resolver)
