"""Index credentials come from netrc and never reach a lock, an export or a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LocalIndex
from tests.helpers import run_cli
from tests.support.corpus import PRIVATE_AUTH


def manifest(tmp_path: Path, local_index: LocalIndex) -> Path:
    path = tmp_path / "envbuild.toml"
    path.write_text('[project]\nname = "creds"\npython = "3.11"\n'
                    '[dependencies]\npython = ["private-pkg"]\n'
                    f'[indexes]\nprivate = {{ url = "{local_index.url("private")}", explicit = false }}\n'
                    '[targets.linux]\nplatform = "linux/amd64"\n')
    return path


def test_netrc_credentials_are_used_and_never_written(eb_env: dict[str, str], tmp_path: Path,
                                                      local_index: LocalIndex,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    user, password = PRIVATE_AUTH
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {user} password {password}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    path = manifest(tmp_path, local_index)
    locked = run_cli(["lock", "-f", str(path)])
    assert locked.code == 0, locked.err
    outputs = [locked.out, locked.err, (tmp_path / "envbuild.lock").read_text()]
    for fmt in ("requirements", "pylock"):
        exported = run_cli(["export", "-f", str(path), "--format", fmt])
        assert exported.code == 0, exported.err
        outputs += [exported.out, exported.err]
    assert "private-pkg" in outputs[2]
    for text in outputs:
        assert password not in text and user not in text


def test_missing_credentials_are_an_external_failure(eb_env: dict[str, str], tmp_path: Path,
                                                     local_index: LocalIndex,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    result = run_cli(["lock", "-f", str(manifest(tmp_path, local_index))])
    assert result.code == 3, result.err
    assert "401" in result.err or "credentials" in result.err


RELAYED_TOKEN = "tkn-4f9c2e-must-not-leak"


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
def test_a_token_the_failing_resolver_prints_is_scrubbed(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex,
        monkeypatch: pytest.MonkeyPatch, verbose: bool) -> None:
    # The default index comes from the user's environment, which the manifest check cannot
    # see; the private index answers 401 and uv names the URL, query string and all.
    monkeypatch.setenv("UV_DEFAULT_INDEX", f"{local_index.url('private')}?token={RELAYED_TOKEN}")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    path = tmp_path / "envbuild.toml"
    path.write_text('[project]\nname = "creds"\npython = "3.11"\n'
                    '[dependencies]\npython = ["private-pkg"]\n'
                    '[targets.linux]\nplatform = "linux/amd64"\n')
    result = run_cli(["-v"] * verbose + ["lock", "-f", str(path)])
    assert result.code == 3, result.err
    assert f"{local_index.url('private')}?***" in result.err  # uv did print the URL
    assert RELAYED_TOKEN not in result.err + result.out
