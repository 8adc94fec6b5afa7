#!/usr/bin/env python3
"""Writes the embedded models of the services Freshet serves only part of: botocore's model
trimmed to the operations served and every shape they reach, documentation removed, as the other
embedded models are. Glue (the Data Catalog's databases and tables; its full model is over 1 MB)
CloudWatch (the metric reads) and KMS (symmetric keys, aliases, rotation and the
cryptographic operations of the local KMS). The edge answers any other target of theirs with
UnknownOperationException because it is not in the model.

Usage: scripts/trim-model.py  (reads the installed botocore's models)
"""

import gzip
import json
import os
import sys

import botocore

SERVED = {
    ("glue", "2017-03-31"): [
        "CreateDatabase", "GetDatabase", "GetDatabases", "UpdateDatabase", "DeleteDatabase",
        "CreateTable", "GetTable", "GetTables", "UpdateTable", "DeleteTable",
        "GetTableVersion", "GetTableVersions",
    ],
    ("cloudwatch", "2010-08-01"): ["GetMetricStatistics", "GetMetricData", "ListMetrics"],
    ("kms", "2014-11-01"): [
        "CreateKey", "DescribeKey", "ListKeys", "EnableKey", "DisableKey",
        "ScheduleKeyDeletion", "CancelKeyDeletion",
        "CreateAlias", "UpdateAlias", "DeleteAlias", "ListAliases",
        "EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus", "RotateKeyOnDemand",
        "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "Encrypt", "Decrypt", "ReEncrypt",
        "GenerateRandom",
    ],
}
MODELS = os.path.join(os.path.dirname(__file__), "..", "crates", "freshet-edge", "models")


def strip_docs(value):
    if isinstance(value, dict):
        return {k: strip_docs(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [strip_docs(v) for v in value]
    return value


def trim(service: str, version: str, served: list[str]) -> None:
    source = os.path.join(os.path.dirname(botocore.__file__), "data", service, version,
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
    for name in served:
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
    out = os.path.join(MODELS, f"{service}-{version}.json")
    with open(out, "w") as f:
        json.dump(strip_docs(trimmed), f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(operations)} operations, {len(reached)} shapes -> {os.path.normpath(out)}",
          file=sys.stderr)


def main() -> int:
    for (service, version), served in SERVED.items():
        trim(service, version, served)
    return 0


if __name__ == "__main__":
    sys.exit(main())
