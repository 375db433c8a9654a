#!/usr/bin/env python3
"""Writes the JSON schemas kubeconform validates deploy/ against (scripts/validate-deploy.sh).

Run by hand when the pinned versions change (needs curl, unzip, python3 with PyYAML); the
output is committed, so `npm test` needs no network for schemas. Sources, both from the Go
module proxy (GitHub, where kubeconform's default schemas live, is not reachable everywhere
this project is built):
  - Kubernetes: api/openapi-spec/swagger.json of module k8s.io/kubernetes@K8S_VERSION;
  - KEDA: the ScaledObject CRD, config/crd/bases/keda.sh_scaledobjects.yaml of module
    github.com/kedacore/keda/v2@KEDA_VERSION (its openAPIV3Schema, converted).
Every object schema that lists properties gets additionalProperties: false (kubeconform's
"strict": a misspelt field fails), as kubeconform's own -strict schemas do. One file per kind,
named as kubeconform's {{ .ResourceKind }}{{ .KindSuffix }} template expects.
"""
import json, os, subprocess, sys, tempfile, zipfile

import yaml

K8S_VERSION = "v1.34.2"
KEDA_VERSION = "v2.18.1"
KINDS = [  # (apiVersion, kind) used by deploy/
    ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "Namespace"),
    ("apps/v1", "Deployment"), ("batch/v1", "Job"), ("policy/v1", "PodDisruptionBudget"),
]
OUT = os.path.dirname(os.path.abspath(__file__))


def module_zip(module, version, tmp):
    path = os.path.join(tmp, module.replace("/", "_") + ".zip")
    subprocess.run(["curl", "-fsSL", "-o", path, f"https://proxy.golang.org/{module}/@v/{version}.zip"], check=True)
    return zipfile.ZipFile(path)


def strict(node):
    """Recursively: objects with properties refuse unknown fields; int-or-string and quantities accept both."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: strict(v) for k, v in node.items() if k != "description"}
    if node.get("format") == "int-or-string" or node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None); node.pop("format", None)
        node["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        node["additionalProperties"] = False
    return node


def file_name(api_version, kind):
    group_version = api_version.split("/")
    suffix = "-" + group_version[0].split(".")[0].lower()
    if len(group_version) > 1:
        suffix += "-" + group_version[1].lower()
    return f"{kind.lower()}{suffix}.json"


def kubernetes_schemas(tmp):
    z = module_zip("k8s.io/kubernetes", K8S_VERSION, tmp)
    swagger = json.loads(z.read(f"k8s.io/kubernetes@{K8S_VERSION}/api/openapi-spec/swagger.json"))
    defs = swagger["definitions"]
    defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"oneOf": [{"type": "string"}, {"type": "number"}]}
    for api_version, kind in KINDS:
        group, _, version = api_version.rpartition("/")
        name = next(n for n, d in defs.items() for gvk in d.get("x-kubernetes-group-version-kind", [])
                    if gvk["group"] == group and gvk["version"] == version and gvk["kind"] == kind)
        closure, todo = set(), [name]
        while todo:  # the definitions this kind refers to, transitively
            n = todo.pop()
            if n in closure:
                continue
            closure.add(n)
            todo += [r.split("/")[-1] for r in refs(defs[n])]
        schema = strict(defs[name])
        schema["properties"]["apiVersion"] = {"type": "string", "enum": [api_version]}
        schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind"})
        schema["definitions"] = {n: strict(defs[n]) for n in sorted(closure - {name})}
        schema["$comment"] = f"{api_version} {kind} from k8s.io/kubernetes@{K8S_VERSION} api/openapi-spec/swagger.json (deploy/schemas/generate.py)"
        write(file_name(api_version, kind), schema)


def refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for v in node.values():
            yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def keda_schema(tmp):
    z = module_zip("github.com/kedacore/keda/v2", KEDA_VERSION, tmp)
    crd = yaml.safe_load(z.read(f"github.com/kedacore/keda/v2@{KEDA_VERSION}/config/crd/bases/keda.sh_scaledobjects.yaml"))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["apiVersion"] = {"type": "string", "enum": ["keda.sh/v1alpha1"]}
    schema["properties"]["kind"] = {"type": "string", "enum": ["ScaledObject"]}
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "spec"})
    schema["$comment"] = f"keda.sh/v1alpha1 ScaledObject from github.com/kedacore/keda/v2@{KEDA_VERSION} config/crd/bases/keda.sh_scaledobjects.yaml (deploy/schemas/generate.py)"
    write(file_name("keda.sh/v1alpha1", "ScaledObject"), schema)


def write(name, schema):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(schema, f, indent=1, sort_keys=True)
        f.write("\n")
    print(name, file=sys.stderr)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        kubernetes_schemas(tmp)
        keda_schema(tmp)
