#!/usr/bin/env python3
"""Validates the manifests under deploy/ offline, with nothing fetched from the network.

  python deploy/validate.py          validate every manifest; exit 1 on any finding
  python deploy/validate.py dump     print every document (and spin.toml, runtime-config/redis.toml)
                                     as JSON, for tests/deploy.rs

Kubernetes objects (deploy/kubernetes/*.yaml, deploy/spinkube/secret.yaml, and the vendored CRD
itself) are validated with kubernetes-validate, which ships the Kubernetes JSON schemas, in its
strict mode (unknown fields are errors), against every version in KUBERNETES_VERSIONS. A kind
it has no schema for is an error, not the warning its command line prints. The SpinApp
(deploy/spinkube/spinapp.yaml) is validated against the openAPIV3Schema of the vendored Spin
Operator CRD (deploy/schemas/) with jsonschema, made strict the way the API server's strict
field validation is (an object schema that lists its properties admits no others, unless it
says x-kubernetes-preserve-unknown-fields), and its metadata against Kubernetes' ObjectMeta.

Needs (pinned; tests/deploy.rs installs them into the project's virtual environment):
kubernetes-validate==1.37.0, jsonschema==4.26.0 (and PyYAML, a dependency of both).
"""

import copy
import json
import pathlib
import sys
import tomllib

import jsonschema
import kubernetes_validate
import referencing
import yaml
from kubernetes_validate import utils as kv_utils

DEPLOY = pathlib.Path(__file__).resolve().parent
ROOT = DEPLOY.parent
# The oldest Kubernetes these manifests are meant for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30", "1.37"]
CRD = DEPLOY / "schemas" / "core.spinkube.dev_spinapps.yaml"


def manifests():
    files = sorted((DEPLOY / "kubernetes").glob("*.yaml")) + sorted((DEPLOY / "spinkube").glob("*.yaml"))
    return files + [CRD]


def documents(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def strict(schema):
    """The CRD schema with additionalProperties: false wherever the API server would drop (and
    strict field validation refuse) unknown fields."""
    schema = copy.deepcopy(schema)

    def walk(s):
        if isinstance(s, dict):
            if (
                "properties" in s
                and "additionalProperties" not in s
                and not s.get("x-kubernetes-preserve-unknown-fields")
            ):
                s["additionalProperties"] = False
            for v in s.values():
                walk(v)
        elif isinstance(s, list):
            for v in s:
                walk(v)

    walk(schema)
    return schema


def crd_schemas():
    """(group, version, kind) -> the strict openAPIV3Schema of each version the CRD serves."""
    (crd,) = documents(CRD)
    out = {}
    for v in crd["spec"]["versions"]:
        out[(crd["spec"]["group"], v["name"], crd["spec"]["names"]["kind"])] = strict(v["schema"]["openAPIV3Schema"])
    return out


def object_meta_validator(version):
    """A validator of metadata against Kubernetes' ObjectMeta (strict), from kubernetes-validate's
    bundled definitions: a local registry, so no reference can be fetched."""
    defs = kv_utils.schema_contents(f"kubernetes-json-schema/v{version}.0-local-strict/_definitions.json", version)
    registry = referencing.Resource.from_contents(defs) @ referencing.Registry()
    ref = {"$ref": "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return jsonschema.Draft202012Validator(ref, registry=registry)


def where(error):
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


def validate():
    failures, passed = [], 0
    custom = crd_schemas()
    for path in manifests():
        rel = path.relative_to(ROOT)
        try:
            docs = documents(path)
        except yaml.YAMLError as e:
            failures.append(f"{rel}: not YAML: {e}")
            continue
        if not docs:
            failures.append(f"{rel}: no document")
        for doc in docs:
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            group, _, version = doc.get("apiVersion", "").rpartition("/")
            key = (group, version, doc.get("kind"))
            if key in custom:
                errors = sorted(
                    jsonschema.Draft7Validator(custom[key]).iter_errors(doc), key=lambda e: list(e.absolute_path)
                )
                for v in KUBERNETES_VERSIONS:
                    errors += object_meta_validator(v).iter_errors(doc.get("metadata", {}))
                for e in errors:
                    failures.append(f"{rel}: {name}: {where(e)}: {e.message}")
                if not errors:
                    passed += 1
                    print(f"valid: {rel}: {name} (CRD {CRD.name})")
                continue
            ok = True
            for v in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, v, strict=True)
                except kubernetes_validate.ValidationError as e:
                    ok = False
                    failures.append(f"{rel}: {name}: Kubernetes {v}: {where(e)}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError:
                    ok = False
                    failures.append(f"{rel}: {name}: Kubernetes {v} has no kind {doc.get('kind')} in {doc.get('apiVersion')}")
            if ok:
                passed += 1
                print(f"valid: {rel}: {name} (Kubernetes {', '.join(KUBERNETES_VERSIONS)}, strict)")
    for f in failures:
        print(f"INVALID: {f}")
    print(f"{passed} valid, {len(failures)} findings")
    return 1 if failures or passed == 0 else 0


def dump():
    out = {"manifests": {}}
    for path in manifests():
        out["manifests"][str(path.relative_to(ROOT))] = documents(path)
    with open(ROOT / "spin.toml", "rb") as f:
        out["spin_toml"] = tomllib.load(f)
    with open(ROOT / "runtime-config" / "redis.toml", "rb") as f:
        out["runtime_config_redis"] = tomllib.load(f)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(dump() if sys.argv[1:] == ["dump"] else validate())
