#!/usr/bin/env bash
# Evaluates the NixOS module against stub NixOS options with nixpkgs' lib
# (nix/eval-test.nix), and checks testdata/module-rendered.toml against the
# TOML the module renders for the sample bastion.
#
#   NIXPKGS_LIB=/path/to/nixpkgs.lib nix/eval.sh           # check
#   NIXPKGS_LIB=/path/to/nixpkgs.lib nix/eval.sh --write   # rewrite the sample
#
# NIXPKGS_LIB is a checkout of nixpkgs or of nix-community/nixpkgs.lib (the
# directory holding lib/), or lib/ itself. Without it, <nixpkgs> from
# NIX_PATH is used if it resolves; otherwise the evaluation is skipped (an
# error when CI is set).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sample="$root/testdata/module-rendered.toml"
write=false
case "${1:-}" in
  --write) write=true ;;
  "") ;;
  *) echo "usage: $0 [--write]" >&2; exit 2 ;;
esac

for f in "$root"/module.nix "$root"/package.nix "$root"/flake.nix "$root"/nix/*.nix; do
  nix-instantiate --parse "$f" >/dev/null || { echo "FAIL: $f does not parse" >&2; exit 1; }
done
echo "parse: ok"

lib_dir=""
if [[ -n "${NIXPKGS_LIB:-}" ]]; then
  if [[ -f "$NIXPKGS_LIB/lib/default.nix" ]]; then
    lib_dir="$NIXPKGS_LIB/lib"
  elif [[ -f "$NIXPKGS_LIB/default.nix" && -f "$NIXPKGS_LIB/modules.nix" ]]; then
    lib_dir="$NIXPKGS_LIB"
  else
    echo "FAIL: NIXPKGS_LIB=$NIXPKGS_LIB holds neither lib/default.nix nor modules.nix" >&2
    exit 1
  fi
elif found=$(nix-instantiate --find-file nixpkgs 2>/dev/null) && [[ -f "$found/lib/default.nix" ]]; then
  lib_dir="$found/lib"
fi
if [[ -z "$lib_dir" ]]; then
  echo "skipped: set NIXPKGS_LIB=/path/to/nixpkgs.lib (a checkout of nixpkgs or nix-community/nixpkgs.lib)"
  [[ -z "${CI:-}" ]] || exit 1
  exit 0
fi
lib_dir=$(cd "$lib_dir" && pwd)
echo "lib: $lib_dir ($(nix-instantiate --eval --expr "(import (/. + \"$lib_dir\")).version" | tr -d '"'))"

run() {
  nix-instantiate --eval --strict --json "$root/nix/eval-test.nix" \
    --arg lib "import (/. + \"$lib_dir\")" -A "$1"
}

passed=$(run passed)
flake=$(nix-instantiate --eval --strict --json "$root/nix/flake-eval.nix" --arg lib "import (/. + \"$lib_dir\")")
passed=$(jq -c -s 'add' <<<"$passed $flake")
echo "$passed" | jq -r '.[] | if test("not checked") then "skip \(.)" else "ok   \(.)" end'
echo "eval: $(echo "$passed" | jq '[.[] | select(test("not checked") | not)] | length') checks passed"

want=$(
  printf '# Rendered by nix/eval.sh --write from the sample bastion in nix/eval-test.nix.\n'
  printf '# Do not edit: the NixOS module produces it.\n\n'
  run rendered | jq -j .
)
if $write; then
  printf '%s\n' "$want" >"$sample"
  echo "wrote $sample"
elif ! diff -u "$sample" <(printf '%s\n' "$want"); then
  echo "FAIL: $sample is stale; rerun with --write" >&2
  exit 1
else
  echo "sample: $sample is current"
fi
