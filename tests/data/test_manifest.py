from __future__ import annotations

from pathlib import Path

from envbuild.data.manifest import DatasetSpec, parse_datasets

LINES = {"datasets.x.source": 3, "datasets.x.digest": 5}


def parse(table: dict[str, object]) -> tuple[dict[str, DatasetSpec], list[str]]:
    specs, problems = parse_datasets(table, file="envbuild.toml", line_of=LINES.get, manifest_dir=Path())
    return specs, [p.render() for p in problems]


def test_full_spec() -> None:
    specs, problems = parse(
        {
            "imagenet-val": {
                "source": "s3://research-data/imagenet/val/",
                "include": ["**/*.JPEG"],
                "mount": "/data/imagenet-val",
                "digest": "blake3:" + "a" * 64,
            }
        }
    )
    assert problems == []
    assert specs["imagenet-val"] == DatasetSpec(
        name="imagenet-val",
        source="s3://research-data/imagenet/val/",
        include=("**/*.JPEG",),
        mount="/data/imagenet-val",
        digest="blake3:" + "a" * 64,
    )


def test_every_problem_is_reported_with_key_and_line() -> None:
    specs, problems = parse(
        {
            "x": {"source": "ftp://h/p", "digest": "md5:abc", "colour": 1},
            "y": {"include": "*.txt", "mount": "relative"},
            "bad name": {"source": "p"},
            "z": "nope",
        }
    )
    assert specs == {}
    assert sorted(problems) == sorted(
        [
            "envbuild.toml: datasets.bad name: dataset names use letters, digits, '.', '_' and '-'; rename it",
            "envbuild.toml: datasets.x.colour: unknown key; use one of source, include, mount, digest",
            "envbuild.toml:3: datasets.x.source: unsupported scheme 'ftp'; use a path, file://, http(s):// or s3://",
            "envbuild.toml:5: datasets.x.digest: 'md5:abc' is not a dataset digest; write"
            " 'blake3:<64 lowercase hex>' or 'sha256:<64 lowercase hex>'",
            'envbuild.toml: datasets.y.source: missing; add source = "<path | file:// | https:// |'
            ' s3://bucket/prefix>"',
            'envbuild.toml: datasets.y.include: must be a list of glob strings, e.g. ["**/*.JPEG"]',
            'envbuild.toml: datasets.y.mount: must be an absolute path inside images and jobs, e.g. "/data/name"',
            "envbuild.toml: datasets.z: must be a table; write [datasets.z] with a source key",
        ]
    )


def test_bucket_and_host_required() -> None:
    _, problems = parse({"a": {"source": "s3:///k"}, "b": {"source": "https:///k"}})
    assert problems == [
        "envbuild.toml: datasets.a.source: s3 source needs a bucket; write s3://<bucket>/<prefix>",
        "envbuild.toml: datasets.b.source: https source needs a host; write https://<host>/<path>",
    ]


def test_bad_include_pattern() -> None:
    _, problems = parse({"a": {"source": "d", "include": ["ok/*", "../x"]}})
    assert problems == [
        "envbuild.toml: datasets.a.include: pattern '../x': '.' and '..' segments never match; remove them"
    ]
