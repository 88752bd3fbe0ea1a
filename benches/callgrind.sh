#!/usr/bin/env bash
# benches/callgrind.sh — exact user-space instruction counts of a sweep (valgrind's callgrind),
# for comparing two builds on the same load where timings are too noisy.
#
#   bash benches/callgrind.sh maps|none|full BINARY... [--procs N]
#
# Starts the load (target/release/vmpipe-loadgen, N processes x 300 mappings, default 20),
# runs each BINARY under callgrind over the load's pids with one thread (maps: maps-only.toml;
# none: a live smaps source and one CSV sink; full: all-procs.toml), prints each total
# ("summary: N" instructions) and leaves the profiles in callgrind.MODE.NAME.out in the current
# directory for callgrind_annotate. Needs valgrind; build first (cargo build --release -p vmpipe
# -p vmpipe-loadgen).
set -euo pipefail

MODE=${1:?usage: callgrind.sh maps|none|full BINARY... [--procs N]}
shift
PROCS=20
BINS=()
while (($#)); do
    case $1 in
    --procs) PROCS=$2; shift 2 ;;
    *) BINS+=("$(realpath "$1")"); shift ;;
    esac
done
((${#BINS[@]})) || { echo "callgrind.sh: no binary given" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind.sh: needs valgrind (apt-get install -y valgrind)" >&2; exit 2; }
# Debian's /usr/bin/valgrind is a wrapper that exports LD_LIBRARY_PATH=/usr/lib/debug, and a
# privileged vmpipe started with that variable executes itself again without it (see
# plugin/loader_environment.rs), which valgrind refuses. Call the real launcher.
VALGRIND=$(command -v valgrind)
[[ -x $VALGRIND.bin ]] && VALGRIND=$VALGRIND.bin

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/vmpipe-callgrind.XXXXXX)
LOADGEN=$ROOT/target/release/vmpipe-loadgen
[[ -x $LOADGEN ]] || { echo "callgrind.sh: build $LOADGEN first" >&2; exit 2; }

case $MODE in
maps) PIPELINE=$ROOT/pipelines/maps-only.toml ;;
full) PIPELINE=$ROOT/pipelines/all-procs.toml ;;
none)
    PIPELINE=$WORK/smaps-none.toml
    printf '[source]\ntype = "live"\nprocesses = "all"\ndetail = "smaps"\n\n[[sink]]\ntype = "csv"\ndir = "out"\n' >"$PIPELINE"
    ;;
*) echo "callgrind.sh: mode is maps, none or full" >&2; exit 2 ;;
esac

"$LOADGEN" -n "$PROCS" -m 300 --duration 600 >"$WORK/load.out" 2>&1 &
LOAD=$!
trap 'kill $LOAD 2>/dev/null; wait $LOAD 2>/dev/null; rm -rf "$WORK"' EXIT
until grep -q ready "$WORK/load.out" 2>/dev/null; do
    kill -0 $LOAD 2>/dev/null || { cat "$WORK/load.out" >&2; exit 1; }
    sleep 0.2
done
PIDARGS=()
while read -r p; do PIDARGS+=(--pid "$p"); done < <(grep -E '^[0-9]+$' "$WORK/load.out")

for b in "${BINS[@]}"; do
    out=callgrind.$MODE.$(basename "$b").out
    rm -rf "$WORK/csv"
    "$VALGRIND" --tool=callgrind --callgrind-out-file="$out" "$b" run "$PIPELINE" "${PIDARGS[@]}" \
        --threads 1 --quiet --out "$WORK/csv" >/dev/null 2>"$WORK/valgrind.err" ||
        { cat "$WORK/valgrind.err" >&2; exit 1; }
    echo "$MODE $b $(grep -E '^summary:' "$out")"
done
