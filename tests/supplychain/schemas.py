"""JSON schemas of the in-toto Statement v1 and the SLSA Provenance v1 predicate, written
from their specifications' documented fields (in-toto/attestation spec/v1/statement.md and
resource_descriptor.md; slsa.dev/spec/v1.0/provenance), since no PyPI package ships them."""

from __future__ import annotations

from typing import Any

_TIMESTAMP = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}
_DIGEST_SET = {"type": "object", "minProperties": 1,
               "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]+$"}}
_URI = {"type": "string", "pattern": r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$"}

RESOURCE_DESCRIPTOR: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "anyOf": [{"required": ["uri"]}, {"required": ["digest"]}, {"required": ["content"]}],
    "properties": {"uri": {"type": "string"}, "digest": _DIGEST_SET, "name": {"type": "string"},
                   "downloadLocation": {"type": "string"}, "mediaType": {"type": "string"},
                   "content": {"type": "string"}, "annotations": {"type": "object"}}}

STATEMENT: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["_type", "subject", "predicateType", "predicate"],
    "properties": {
        "_type": {"const": "https://in-toto.io/Statement/v1"},
        "subject": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["digest"],
            "properties": {"name": {"type": "string"}, "uri": {"type": "string"},
                           "digest": _DIGEST_SET, "annotations": {"type": "object"}}}},
        "predicateType": _URI,
        "predicate": {"type": "object"}}}

SLSA_PROVENANCE_V1: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["buildDefinition", "runDetails"],
    "properties": {
        "buildDefinition": {
            "type": "object", "additionalProperties": False,
            "required": ["buildType", "externalParameters"],
            "properties": {"buildType": _URI, "externalParameters": {"type": "object"},
                           "internalParameters": {"type": "object"},
                           "resolvedDependencies": {"type": "array",
                                                    "items": RESOURCE_DESCRIPTOR}}},
        "runDetails": {
            "type": "object", "additionalProperties": False, "required": ["builder"],
            "properties": {
                "builder": {"type": "object", "additionalProperties": False,
                            "required": ["id"],
                            "properties": {"id": _URI,
                                           "version": {"type": "object",
                                                       "additionalProperties":
                                                           {"type": "string"}},
                                           "builderDependencies": {
                                               "type": "array",
                                               "items": RESOURCE_DESCRIPTOR}}},
                "metadata": {"type": "object", "additionalProperties": False,
                             "properties": {"invocationId": {"type": "string"},
                                            "startedOn": _TIMESTAMP,
                                            "finishedOn": _TIMESTAMP}},
                "byproducts": {"type": "array", "items": RESOURCE_DESCRIPTOR}}}}}
