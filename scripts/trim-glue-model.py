#!/usr/bin/env python3
"""Writes crates/freshet-edge/models/glue-2017-03-31.json: botocore's Glue model trimmed to the
operations Freshet serves (the Data Catalog's databases and tables) and every shape they reach,
documentation removed, as the other embedded models are. Glue's full model is over 1 MB; the edge
answers any other AWSGlue target with UnknownOperationException because it is not in the model.

Usage: scripts/trim-glue-model.py  (reads the installed botocore's model)
"""

import gzip
import json
import os
import sys

import botocore

SERVED = [
    "CreateDatabase", "GetDatabase", "GetDatabases", "UpdateDatabase", "DeleteDatabase",
    "CreateTable", "GetTable", "GetTables", "UpdateTable", "DeleteTable",
    "GetTableVersion", "GetTableVersions",
]
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "freshet-edge", "models",
                   "glue-2017-03-31.json")


def strip_docs(value):
    if isinstance(value, dict):
        return {k: strip_docs(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [strip_docs(v) for v in value]
    return value


def main() -> int:
    source = os.path.join(os.path.dirname(botocore.__file__), "data", "glue", "2017-03-31",
                          "service-2.json.gz")
    with gzip.open(source) as f:
        model = json.load(f)
    shapes = model["shapes"]
    reached: set[str] = set()

    def reach(name: str) -> None:
        if name in reached:
            return
        reached.add(name)
        shape = shapes[name]
        for key in ("member", "key", "value"):
            if key in shape:
                reach(shape[key]["shape"])
        for member in shape.get("members", {}).values():
            reach(member["shape"])

    operations = {}
    for name in SERVED:
        op = model["operations"][name]
        operations[name] = op
        for key in ("input", "output"):
            if key in op:
                reach(op[key]["shape"])
        for error in op.get("errors", []):
            reach(error["shape"])
    trimmed = {
        "version": model["version"],
        "metadata": model["metadata"],
        "operations": operations,
        # In the full model's order, so a diff against a newer botocore stays readable.
        "shapes": {name: shapes[name] for name in shapes if name in reached},
    }
    with open(OUT, "w") as f:
        json.dump(strip_docs(trimmed), f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(operations)} operations, {len(reached)} shapes -> {os.path.normpath(OUT)}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
