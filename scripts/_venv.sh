# Sourced by scripts/try and scripts/test: create .venv and install envbuild into it.
# pip on some machines carries site configuration (extra indexes, find-links, a constraint);
# envbuild's own install ignores it so every machine installs the same way.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ENVBUILD_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
pip_isolated() {
  # --isolated ignores PIP_* and user config but still reads the global file; an empty
  # PIP_CONFIG_FILE skips that too.
  env $(env | grep -o '^PIP_[A-Z_]*' | sed 's/^/-u /') PIP_CONFIG_FILE=/dev/null \
    "$VENV/bin/python" -m pip --isolated \
    --disable-pip-version-check -q "$@"
}
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
