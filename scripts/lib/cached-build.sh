# shellcheck shell=bash
# Shared by the scripts that build upstream binaries from the Go module proxy into a cache OUTSIDE the repository.
# Source it, then call `cached_build CACHE_DIR NAME BUILDER [ARGS...]` as a plain statement (not inside `if`,
# `||` or `$(...)`, which would switch off `set -e` in the builder). It prints CACHE_DIR/NAME.
#
# A binary already in the cache is reused at once. Otherwise the build runs under an exclusive flock on
# CACHE_DIR/.NAME.lock, so two overlapping runs build it once (the second waits, then finds it); the builder gets a
# fresh temporary directory of its own (`BUILDER WORKDIR OUTPUT ARGS...`, inside CACHE_DIR so the final rename stays
# on one filesystem) and its OUTPUT is renamed into place atomically: nobody ever sees a half-written binary.

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 GOWORK=off

cached_build() {
  local cache=$1 name=$2 builder=$3
  shift 3
  local bin="$cache/$name"
  if [[ ! -x "$bin" ]]; then
    mkdir -p "$cache"
    (
      flock -x 9
      if [[ ! -x "$bin" ]]; then
        local work started stale
        # A run that was killed leaves its directory behind; holding the lock, nobody else is using it.
        for stale in "$cache/.build-$name".*; do
          [[ -e "$stale" ]] && { chmod -R u+w "$stale" 2>/dev/null; rm -rf "$stale"; }
        done
        work=$(mktemp -d "$cache/.build-$name.XXXXXX")
        # Module cache copies are read-only; make them removable before removing the run's directory.
        trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
        started=$SECONDS
        echo "building $name in $work (removed afterwards)" >&2
        "$builder" "$work" "$work/$name" "$@" >&2
        chmod 0755 "$work/$name"
        mv -f "$work/$name" "$bin"
        echo "built $name in $((SECONDS - started)) s" >&2
      fi
    ) 9>"$cache/.$name.lock"
  fi
  echo "$bin"
}

# module_dir MODULE@VERSION: download a module through the proxy and print its (read-only) directory.
module_dir() {
  local answer dir
  answer=$(go mod download -json "$1" || true)
  dir=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1] or "{}").get("Dir", ""))' "$answer")
  if [[ -z "$dir" || ! -d "$dir" ]]; then
    echo "go mod download $1 failed: $(python3 -c 'import json, sys; print(json.loads(sys.argv[1] or "{}").get("Error", "no directory"))' "$answer")" >&2
    return 1
  fi
  echo "$dir"
}

# writable_module_copy MODULE@VERSION DEST: a writable copy of a downloaded module (go build edits go.mod/go.sum).
writable_module_copy() {
  local dir
  dir=$(module_dir "$1")
  cp -r "$dir" "$2"
  chmod -R u+w "$2"
}

# local_replacements: the module paths the current go.mod replaces with a local directory (./ or ../), one a line.
local_replacements() {
  go mod edit -json | python3 -c '
import json, sys
for replacement in json.load(sys.stdin).get("Replace") or []:
    if replacement["New"]["Path"].startswith("."):
        print(replacement["Old"]["Path"])
'
}
