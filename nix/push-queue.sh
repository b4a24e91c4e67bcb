#!/usr/bin/env bash
# Uploads the paths nix/push-hook.sh queued, with nix copy --to, and takes
# them off the queue only once the copy succeeded: a server that is down
# or refuses leaves them for the next run (and this exits non-zero).
#
#   PUSH_SPOOL        the queue's directory (/var/lib/private-nix-cache-push)
#   PUSH_URL          where to copy, e.g. https://cache.example.org?compression=zstd
#   PUSH_TOKEN_FILE   a file holding the push token (the secret alone)
#
# The token goes into a netrc made for this run only (mode 0600, removed
# on exit), named on nix's command line: the daemon's own netrc-file is
# left alone.
set -euo pipefail
spool=${PUSH_SPOOL:-/var/lib/private-nix-cache-push}
url=${PUSH_URL:?PUSH_URL is not set}
token_file=${PUSH_TOKEN_FILE:?PUSH_TOKEN_FILE is not set}

shopt -s nullglob
queued=("$spool"/queue/*)
[ ${#queued[@]} -gt 0 ] || exit 0

# Paths collected garbage since they were queued cannot be copied: skip them.
declare -A seen=()
paths=()
while IFS= read -r p; do
  if [ -n "$p" ] && [ -z "${seen[$p]:-}" ] && [ -e "$p" ]; then
    seen[$p]=1
    paths+=("$p")
  fi
done < <(cat -- "${queued[@]}")

if [ ${#paths[@]} -gt 0 ]; then
  host=${url#*://}
  host=${host%%[/?]*}
  host=${host%:*}
  umask 077
  netrc=$(mktemp)
  trap 'rm -f "$netrc"' EXIT
  printf 'machine %s password %s\n' "$host" "$(tr -d ' \t\r\n' <"$token_file")" >"$netrc"
  printf '%s\0' "${paths[@]}" |
    xargs -0 nix copy --to "$url" --option netrc-file "$netrc"
fi
rm -f -- "${queued[@]}"
echo "private-nix-cache push: copied ${#paths[@]} paths to ${url%%\?*}"
