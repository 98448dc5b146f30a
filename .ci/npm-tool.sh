# Sourced by .ci/install-codex, -gemini and -opencode: install one pinned npm CLI into
# <checkout>/.tools/<name>, for the end-to-end tests that run it against a fake model API
# (tests/fake_models.py).
#
# npm_tool NAME PACKAGE VERSION BIN
#   Idempotent: does nothing when PACKAGE@VERSION is installed and `BIN --version` runs. Quiet: on
#   success prints exactly one line, the path of the executable; on failure prints npm's log to
#   stderr and exits non-zero. Native binaries come inside optional platform packages of the
#   registry (Codex, opencode), so --include=optional; engine-strict off, as for install-claude.
set -euo pipefail

npm_tool() {
    local name="$1" package="$2" version="$3" bin_name="$4"
    local here root prefix bin log
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    root="$(cd "$here/.." && pwd)"
    prefix="$root/.tools/$name"
    bin="$prefix/node_modules/.bin/$bin_name"

    installed_ok() {
        [ -x "$bin" ] || return 1
        local v
        v="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$prefix/node_modules/$package/package.json" 2>/dev/null | head -n1)"
        [ "$v" = "$version" ] || return 1
        "$bin" --version </dev/null >/dev/null 2>&1
    }

    if installed_ok; then
        echo "$bin"
        return 0
    fi
    command -v npm >/dev/null 2>&1 || { echo "install-$name: npm not found (apt-get install nodejs npm)" >&2; return 1; }
    mkdir -p "$prefix"
    log="$(mktemp)"
    # A package.json of its own keeps npm from looking further up for a project.
    if [ ! -f "$prefix/package.json" ]; then
        printf '{\n  "private": true,\n  "description": "tools for dispatch tests, installed by .ci/install-%s"\n}\n' "$name" >"$prefix/package.json"
    fi
    if ! npm install \
            --prefix "$prefix" \
            --no-audit --no-fund --no-update-notifier --no-save \
            --engine-strict=false --include=optional \
            --loglevel=error \
            "$package@$version" >"$log" 2>&1; then
        echo "install-$name: npm install $package@$version failed:" >&2
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    if ! installed_ok; then
        echo "install-$name: installed, but $bin does not run as $package $version:" >&2
        cat "$log" >&2
        "$bin" --version >&2 </dev/null || true
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    echo "$bin"
}
