"""The error boundary: messages and exit codes, never a traceback unless asked for."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from envbuild.inputfiles import MAX_INPUT_BYTES
from tests.helpers import Result, run_cli

GOOD = '[project]\nname = "x"\npython = "3.11"\n[targets.a]\nplatform = "linux/amd64"\n'


def test_a_stray_exception_becomes_a_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import envbuild.lockfile

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(envbuild.lockfile, "load", broken)
    result = run_cli(["show", "--lock", str(tmp_path / "x.lock")])
    assert result.code == 3
    assert result.err.splitlines() == [
        "error: internal error: RuntimeError: boom",
        "hint: this is a bug in envbuild; rerun as `envbuild -v ...` and report the traceback",
    ]
    verbose = run_cli(["-v", "show", "--lock", str(tmp_path / "x.lock")])
    assert "Traceback" in verbose.err
    as_json = run_cli(["show", "--json", "--lock", str(tmp_path / "x.lock")])
    assert as_json.code == 3
    assert json.loads(as_json.out) == {"error": {
        "message": "internal error: RuntimeError: boom", "exit_code": 3,
        "hint": "this is a bug in envbuild; rerun as `envbuild -v ...` and report the traceback"}}


def test_verbose_after_the_command_is_not_the_global_flag(tmp_path: Path) -> None:
    result = run_cli(["lock", "-v", "-f", str(tmp_path / "envbuild.toml")])
    assert result.code == 2
    assert "No such option '-v'" in result.err


def test_check_without_a_lock_is_stale(tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "x"\npython = "3.11"\n[targets.a]\nplatform = "linux/amd64"\n')
    result = run_cli(["lock", "--check", "-f", str(manifest)])
    assert result.code == 1
    assert "no lock file" in result.err


def test_export_never_writes_credentials_from_the_environment(eb_env: dict[str, str], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "x"\npython = "3.11"\n[dependencies]\npython = ["beta"]\n'
                        '[targets.a]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    plain = eb_env["UV_DEFAULT_INDEX"].rstrip("/")
    index = plain.replace("http://", "http://alice:s3cret@") + "?token=t0k3n"
    monkeypatch.setenv("UV_DEFAULT_INDEX", index)
    result = run_cli(["export", "-f", str(manifest), "--format", "requirements"])
    assert result.code == 0, result.err
    assert "s3cret" not in result.out and "alice" not in result.out and "t0k3n" not in result.out
    # The default index is the installer's own configuration: no URL of it is written at all.
    assert "--index-url" not in result.out and "127.0.0.1" not in result.out


def test_export_of_a_lock_naming_an_undeclared_index_is_refused(eb_env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "x"\npython = "3.11"\n[dependencies]\npython = ["beta"]\n'
                        '[targets.a]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    lock = tmp_path / "envbuild.lock"
    lock.write_text(lock.read_text().replace('index = "default"', 'index = "mirror"'))
    result = run_cli(["export", "-f", str(manifest), "--format", "requirements"])
    assert result.code == 2
    assert result.err == (f"error: {lock}: unknown index \"mirror\" (the lock declares: default) in "
                          "'targets.a.packages[0].index'\n"
                          "hint: the lock is damaged or hand-edited; regenerate it with `envbuild lock`\n")


# --- --json on failure: every command prints exactly one document -----------------------

@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    """One hostile or broken input per failure mode, by name."""
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    deep = tmp_path / "deep" / "envbuild.toml"
    deep.parent.mkdir()
    deep.write_text(GOOD + "a = " + "[" * 5000 + "]" * 5000 + "\n")
    big = tmp_path / "big.toml"
    big.write_text(GOOD)
    os.truncate(big, MAX_INPUT_BYTES + 1)
    good = tmp_path / "good" / "envbuild.toml"
    good.parent.mkdir()
    good.write_text(GOOD)
    return {"fifo": str(fifo), "deep": str(deep), "big": str(big), "good": str(good),
            "missing": str(tmp_path / "missing.lock"), "long": str(tmp_path / ("d" * 300))}


def _device(what: str) -> str:
    return f"/dev/zero: the {what} is a device, not a regular file"


# (argv with {placeholders} from `inputs`, exit code, message; None: the lock reader's own
# words, which another change owns; the document must then repeat what stderr said).
JSON_FAILURES: dict[str, tuple[list[str], int, str | None]] = {
    "lock": (["lock", "--json", "-f", "/dev/zero"], 2, _device("manifest")),
    "lock-check": (["lock", "--check", "--json", "-f", "{good}"], 1,
                   "{good_lock}: no lock file: the manifest has never been locked here"),
    "lock-usage": (["lock", "--json", "--bogus"], 2, "No such option '--bogus'."),
    "show": (["show", "--json", "--lock", "{missing}"], 2, None),
    "export": (["export", "--json", "--format", "pylock", "-f", "{fifo}"], 2,
               "{fifo}: the manifest is a FIFO, not a regular file"),
    "diff": (["diff", "--json", "{missing}", "{missing}"], 2, None),
    "verify": (["verify", "--json", "-f", "{good}", "--lock", "{missing}"], 2, None),
    "run": (["run", "--json", "--", "true"], 2, "No such option '--json'."),
    "image": (["image", "--json", "--offline", "-f", "{deep}"], 2,
              "envbuild.toml: the manifest nests values 5000 levels deep, more than the 64 "
              "envbuild reads"),
    "cluster": (["cluster", "--json", "-f", "{big}"], 2,
                f"{{big}}: the manifest is {MAX_INPUT_BYTES + 1} bytes, more than the "
                f"{MAX_INPUT_BYTES} bytes envbuild reads"),
    "data-hash": (["data", "hash", "--json", "{missing}"], 2, "dataset path {missing} does not exist"),
    "data-merge": (["data", "merge", "--json", "{fifo}"], 2,
                   "{fifo}: the listing is a FIFO, not a regular file"),
    "data-pull": (["data", "pull", "--json", "--lock", "/dev/zero"], 2, _device("lock")),
    "data-verify": (["data", "verify", "--json", "--lock", "{fifo}"], 2,
                    "{fifo}: the lock is a FIFO, not a regular file"),
    "cache-info": (["cache", "info", "--json", "--cache-dir", "{long}"], 2,
                   "{long}: cannot read the cache folder: File name too long"),
    "cache-prune": (["cache", "prune", "--json"], 2, "No such option '--json'."),
}


def _one_document(result: Result) -> Any:
    """The single JSON document on stdout (json.loads refuses a second one as extra data)."""
    assert result.out.endswith("}\n"), result.out
    return json.loads(result.out)


@pytest.mark.parametrize("case", sorted(JSON_FAILURES))
def test_json_failure_prints_exactly_one_error_document(case: str, inputs: dict[str, str]) -> None:
    argv, code, message = JSON_FAILURES[case]
    names = {**inputs, "good_lock": str(Path(inputs["good"]).parent / "envbuild.lock")}
    result = run_cli([word.format(**names) for word in argv])
    assert result.code == code, result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    error = _one_document(result)["error"]
    assert set(error) == {"message", "hint", "exit_code"}
    assert error["exit_code"] == code
    if message is not None:
        assert error["message"] == message.format(**names)
    if "Usage:" in result.err:  # a usage error: click's text on stderr, then the document
        assert result.err.splitlines()[-1] == f"Error: {error['message']}"
        assert error["hint"] == f"see `envbuild {' '.join(argv[:2 if argv[0] == 'cache' else 1])} --help`"
    else:  # the same words on stderr as in the document
        assert result.err.splitlines()[0] == f"error: {error['message'].splitlines()[0]}"
        assert (f"hint: {error['hint']}" in result.err) == (error["hint"] is not None)


def test_without_json_nothing_reaches_stdout_on_failure() -> None:
    result = run_cli(["lock", "-f", "/dev/zero"])
    assert result.code == 2 and result.out == ""


def test_json_after_double_dash_belongs_to_the_command(tmp_path: Path) -> None:
    result = run_cli(["run", "--lock", str(tmp_path / "missing.lock"), "--", "tool", "--json"])
    assert result.code == 2
    assert result.out == ""


def test_usage_errors_are_escaped() -> None:
    result = run_cli(["lock", "--x\x1b[2J\u202e", "--json"])
    assert result.code == 2
    assert "\x1b" not in result.err and "\u202e" not in result.err
    assert result.err.splitlines()[-1] == "Error: No such option '--x\\x1b[2J\\u202e'."
    assert _one_document(result)["error"]["message"] == "No such option '--x\\x1b[2J\\u202e'."


def test_export_json_carries_the_text_or_names_the_file(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "x"\npython = "3.11"\n[dependencies]\npython = ["beta"]\n'
                        '[targets.a]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    plain = run_cli(["export", "-f", str(manifest), "--format", "requirements"])
    inline = run_cli(["export", "-f", str(manifest), "--format", "requirements", "--json"])
    assert inline.code == 0, inline.err
    assert _one_document(inline) == {"format": "requirements", "target": "a", "packages": 1,
                                     "output": None, "text": plain.out}
    out = tmp_path / "req.txt"
    written = run_cli(["export", "-f", str(manifest), "--format", "requirements", "--json",
                       "-o", str(out)])
    assert _one_document(written) == {"format": "requirements", "target": "a", "packages": 1,
                                      "output": str(out), "text": None}
    assert out.read_text() == plain.out
