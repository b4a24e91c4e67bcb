#!/usr/bin/env bash
# Nix's post-build-hook for services.private-nix-cache.client.push: it
# only queues the paths a build made, for nix/push-queue.sh to upload. It
# never waits on the network and never fails: a hook that fails fails the
# build.
#
#   OUT_PATHS    the built paths, separated by spaces (set by Nix)
#   PUSH_SPOOL   the queue's directory (/var/lib/private-nix-cache-push)
#
# Each build adds one file of paths, one a line, to $PUSH_SPOOL/queue:
# written under $PUSH_SPOOL/tmp, then renamed, so the uploader never reads
# half a file.
set -u -f
spool=${PUSH_SPOOL:-/var/lib/private-nix-cache-push}
[ -n "${OUT_PATHS:-}" ] || exit 0
umask 077
if mkdir -p "$spool/tmp" "$spool/queue" &&
  tmp=$(mktemp "$spool/tmp/paths.XXXXXXXXXX") &&
  printf '%s\n' $OUT_PATHS >"$tmp" &&
  mv "$tmp" "$spool/queue/"; then
  exit 0
fi
echo "private-nix-cache push hook: could not queue $OUT_PATHS in $spool" >&2
rm -f "${tmp:-}" 2>/dev/null
exit 0
