"""Collect every Kubernetes name and label value in emitted files, and check them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML reads the emitted YAML back")

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
GKE_NODE_POOL = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")


def valid_label_value(value: str) -> bool:
    return len(value) <= 63 and LABEL_VALUE.match(value) is not None


def valid_subdomain(name: str) -> bool:
    return 0 < len(name) <= 253 and all(DNS_LABEL.match(p) and len(p) <= 63
                                        for p in name.split("."))


def documents(out: Path) -> list[dict[str, Any]]:
    return [d for f in sorted(out.glob("*/*.yaml")) for d in yaml.safe_load_all(f.read_text())]


def _label_maps(node: Any) -> Iterator[dict[str, str]]:
    """Every `labels`, `matchLabels` and Service `selector` map, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("labels", "matchLabels", "selector") and isinstance(value, dict) and \
                    all(isinstance(v, str) for v in value.values()):
                yield value
            yield from _label_maps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _label_maps(item)


def _expression_values(node: Any) -> Iterator[str]:
    """Every value of a node-selector requirement (label values too)."""
    if isinstance(node, dict):
        if "operator" in node and isinstance(node.get("values"), list):
            yield from node["values"]
        for value in node.values():
            yield from _expression_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _expression_values(item)


def invalid_names(out: Path) -> list[str]:
    """Every name or label value in `out` that Kubernetes, GKE or EKS would refuse."""
    bad: list[str] = []
    for document in documents(out):
        kind, name = document["kind"], document["metadata"]["name"]
        if not valid_subdomain(name):
            bad.append(f"{kind} name {name!r}")
        if kind in ("Service", "Job") and not (len(name) <= 63 and DNS_1035.match(name)):
            bad.append(f"{kind} name {name!r} is not a DNS-1035 label")
        if kind == "Job" and len(name) > 52:  # its pods' hostnames are <name>-<index>
            bad.append(f"Job name {name!r} leaves no room for the index")
        for labels in _label_maps(document):
            bad += [f"{kind} label {k}={v!r}" for k, v in labels.items() if not valid_label_value(v)]
        bad += [f"{kind} selector value {v!r}" for v in _expression_values(document)
                if not valid_label_value(v)]
    for tf in sorted(out.glob("gke/*.tf")) + sorted(out.glob("eks/*.tf")):
        text = tf.read_text()
        for name in re.findall(r'^  name\s+= "([^"]*)"', text, re.M):
            if not GKE_NODE_POOL.match(name):
                bad.append(f"GKE node pool name {name!r}")
        for name in re.findall(r'^  node_group_name = "([^"]*)"', text, re.M):
            if not (len(name) <= 63 and re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", name)):
                bad.append(f"EKS node group name {name!r}")
        for value in re.findall(r'"envbuild\.dev/[a-z-]+" = "([^"]*)"', text):
            if not valid_label_value(value):
                bad.append(f"{tf.name} label value {value!r}")
        for resource in re.findall(r'^resource "[^"]+" "([^"]+)"', text, re.M):
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", resource):
                bad.append(f"Terraform resource name {resource!r}")
    return bad
