#!/usr/bin/env bash
# Build every contract in contracts_wasm/ to wasm32 and record sha256 hashes in dist/manifest.json.
#
#   bash contracts_wasm/build.sh           build, run the contracts' native unit tests, update dist/
#   bash contracts_wasm/build.sh --check   build in a scratch dir and fail if dist/ differs from the source
#
# Uses Debian's Rust (rustc/cargo 1.63 + libstd-rust-dev-wasm32 + lld) and binaryen's wasm-opt,
# installing them when missing: the rustup toolchain on these machines has no wasm32 target.
# Builds are reproducible: paths are remapped, no debug info, one codegen unit, pinned tools.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE="${1:-build}"
case "$MODE" in build|--check) ;; *) echo "usage: build.sh [--check]" >&2; exit 2 ;; esac

need_install=0
for tool in /usr/bin/rustc /usr/bin/cargo /usr/bin/wasm-opt; do
    [ -x "$tool" ] || need_install=1
done
[ -d /usr/lib/rustlib/wasm32-unknown-unknown ] || need_install=1
command -v /usr/bin/lld >/dev/null 2>&1 || command -v /usr/bin/rust-lld >/dev/null 2>&1 || need_install=1
if [ "$need_install" = 1 ]; then
    echo "build.sh: installing the Debian Rust wasm toolchain (rustc, cargo, libstd-rust-dev-wasm32, lld, binaryen)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rustc cargo libstd-rust-dev-wasm32 lld binaryen >/dev/null
fi

export PATH="/usr/bin:$PATH"
export CARGO_HOME="${CARGO_HOME_FOR_CONTRACTS:-$HERE/target/cargo-home}"
export SOURCE_DATE_EPOCH=0

# Build from a copy at a fixed path so the output does not depend on where the repo is checked out.
WORK="$(mktemp -d /tmp/consortia-contracts.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
SRC="$WORK/src"
mkdir -p "$SRC"
tar -C "$HERE" --exclude=./target --exclude=./dist -cf - . | tar -C "$SRC" -xf -
export CARGO_TARGET_DIR="$HERE/target/build"
# A 64 KiB shadow stack (not 1 MiB) keeps the memory a call touches small.
export RUSTFLAGS="--remap-path-prefix=$SRC=/consortia/contracts_wasm --remap-path-prefix=$CARGO_HOME=/cargo -C link-arg=-zstack-size=65536"

contracts=()
for manifest in "$SRC"/*/Cargo.toml; do
    dir="$(basename "$(dirname "$manifest")")"
    grep -q 'cdylib' "$manifest" && contracts+=("$dir")
done

if [ "$MODE" = build ]; then
    echo "build.sh: native unit tests"
    if ! (cd "$SRC" && cargo test --offline --quiet > "$WORK/test.log" 2>&1); then
        cat "$WORK/test.log" >&2
        echo "build.sh: contract unit tests failed" >&2
        exit 1
    fi
    grep -E "^test result" "$WORK/test.log" || true
fi

(cd "$SRC" && cargo build --offline --quiet --release --target wasm32-unknown-unknown)

OUT="$WORK/dist"
mkdir -p "$OUT"
for name in "${contracts[@]}"; do
    wasm-opt -O3 --strip-debug --strip-producers \
        "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/$name.wasm" -o "$OUT/$name.wasm"
done

python3 - "$OUT" "${contracts[@]}" <<'PY'
import hashlib, json, subprocess, sys
out, names = sys.argv[1], sys.argv[2:]
def version(cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
manifest = {
    "toolchain": {"rustc": version(["/usr/bin/rustc", "--version"]), "wasm-opt": version(["wasm-opt", "--version"])},
    "contracts": {},
}
for name in sorted(names):
    data = open(f"{out}/{name}.wasm", "rb").read()
    manifest["contracts"][name] = {"file": f"{name}.wasm", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
with open(f"{out}/manifest.json", "w") as fh:
    json.dump(manifest, fh, indent=2, sort_keys=True)
    fh.write("\n")
PY

if [ "$MODE" = --check ]; then
    status=0
    for f in "$OUT"/*; do
        name="$(basename "$f")"
        if ! cmp -s "$f" "$HERE/dist/$name"; then
            echo "build.sh --check: dist/$name differs from a fresh build of the sources" >&2
            status=1
        fi
    done
    for f in "$HERE"/dist/*; do
        [ -e "$OUT/$(basename "$f")" ] || { echo "build.sh --check: dist/$(basename "$f") has no source" >&2; status=1; }
    done
    [ "$status" = 0 ] && echo "build.sh --check: dist/ matches the sources (${#contracts[@]} contracts)"
    exit "$status"
fi

mkdir -p "$HERE/dist"
rm -f "$HERE"/dist/*.wasm
cp "$OUT"/* "$HERE/dist/"
echo "build.sh: wrote ${#contracts[@]} contracts to contracts_wasm/dist/"
cat "$HERE/dist/manifest.json"
