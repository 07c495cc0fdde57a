#!/usr/bin/python3
"""Validates faceid JSON documents and JSON Lines files against schema/faceid-output.schema.json
(Debian's python3-jsonschema). usage: check_schema.py SCHEMA FILE... (a .jsonl file: every line)."""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
bad = 0
for path in sys.argv[2:]:
    text = open(path).read()
    docs = [json.loads(l) for l in text.splitlines() if l.strip()] if path.endswith(".jsonl") else [json.loads(text)]
    for i, d in enumerate(docs):
        errors = list(validator.iter_errors(d))
        if errors or not docs:
            bad += 1
            best = jsonschema.exceptions.best_match(errors)
            print(f"{path}:{i + 1}: {best.message if best else 'empty'}", file=sys.stderr)
    if not docs:
        bad += 1
        print(f"{path}: no documents", file=sys.stderr)
sys.exit(1 if bad else 0)
