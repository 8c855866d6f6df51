"""Kubernetes names and label values, valid by construction.

Every name and label value envbuild emits is built here, from inputs the manifest rules
below have already admitted, so no emitter can write an invalid one:

- A target name is a lower-case DNS label of at most 40 characters
  (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`): it is a label value as written, a file name on every
  file system (no two targets differ only in case) and short enough to join another name.
- A pool name and `cluster.name` are DNS labels that start with a letter, at most 40
  characters: GKE node pool names, Service names (DNS-1035) and Terraform identifiers
  must start with a letter, and GKE allows 40 characters.
- An object name is `<cluster>-<pool>`. One longer than its limit (52 for Jobs, whose pods
  are `<name>-<index>` within 63; 40 for GKE node pools) keeps its first `limit - 9`
  characters (a trailing `-` dropped), then `-` and the first 8 hex digits of the sha256
  of the whole name: the same inputs always give the same name, and two long names that
  share a prefix stay apart.
- A hash as a label value is `<algorithm>-<hex>`, cut to 63 characters.
"""

from __future__ import annotations

import hashlib
import re

LABEL_MAX = 63
NAME_MAX = 40  # target, pool and cluster names
JOB_NAME_MAX = 52
GKE_NODE_POOL_MAX = 40
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_HASHED = 9  # "-" and 8 hex digits


def is_label_value(text: str) -> bool:
    return len(text) <= LABEL_MAX and _LABEL_VALUE.match(text) is not None


def is_dns_label(text: str) -> bool:
    return 0 < len(text) <= LABEL_MAX and _DNS_LABEL.match(text) is not None


def is_dns_subdomain(text: str) -> bool:
    return 0 < len(text) <= 253 and all(is_dns_label(part) for part in text.split("."))


def label_value(text: str) -> str:
    """`text` as a label value; anything else is a bug (the manifest rules admit no such input)."""
    if not is_label_value(text):
        raise ValueError(f"{text!r} is not a Kubernetes label value")
    return text


def target_name_problem(name: str) -> str | None:
    """Why `name` cannot be a target name, with the fix; None when it can."""
    if len(name) <= NAME_MAX and _DNS_LABEL.match(name):
        return None
    length = f" ({len(name)} characters)" if len(name) > NAME_MAX else ""
    return (f"invalid target name{length}; use at most {NAME_MAX} lower-case letters, digits and '-', "
            "starting and ending with a letter or digit (it becomes a Kubernetes label "
            f'value and a folder name), e.g. [targets.{_suggest(name)}]')


def pool_name_problem(name: str, what: str) -> str | None:
    """Why `name` cannot be a pool or cluster name (`what`), with the fix; None when it can."""
    if len(name) <= NAME_MAX and _DNS_1035.match(name):
        return None
    length = f" ({len(name)} characters)" if len(name) > NAME_MAX else ""
    return (f"invalid {what}{length}; use at most {NAME_MAX} lower-case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit (it becomes part of "
            f'Kubernetes, GKE and Terraform names), e.g. "{_suggest(name, letter=True)}"')


def object_name(cluster: str, pool: str, *, limit: int = JOB_NAME_MAX) -> str:
    """`<cluster>-<pool>`, shortened by the rule above when longer than `limit`."""
    full = f"{cluster}-{pool}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:_HASHED - 1]
    return f"{full[:limit - _HASHED].rstrip('-')}-{digest}"


def cluster_name(project: str) -> str:
    """The default `cluster.name`: the project name as a pool-name-valid DNS label.

    Lower case, runs of other characters as one `-`; `envbuild-` in front when it would
    not start with a letter; shortened as object names are when over 40 characters."""
    name = re.sub(r"[^a-z0-9]+", "-", project.lower()).strip("-")
    if not name[:1].isalpha():
        name = f"envbuild-{name}".rstrip("-")
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASHED - 1]
    return f"{name[:NAME_MAX - _HASHED].rstrip('-')}-{digest}"


def hash_label(digest: str) -> str:
    """`sha256:<hex>` as a label value: `sha256-` and the first 56 hex digits (63 characters)."""
    algorithm, _, hexpart = digest.partition(":")
    return label_value(f"{algorithm}-{hexpart}"[:LABEL_MAX])


def _suggest(name: str, *, letter: bool = False) -> str:
    """A close valid name to show in a fix."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:NAME_MAX].rstrip("-")
    if letter and not text[:1].isalpha():
        text = ("p-" + text)[:NAME_MAX].rstrip("-")
    return text or ("p" if letter else "cpu")
