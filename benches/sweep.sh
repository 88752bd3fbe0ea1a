#!/usr/bin/env bash
# benches/sweep.sh — vmpipe's sweep benchmark, as ratios to the kernel floor of the same run.
#
#   bash benches/sweep.sh [--rounds N] [--procs N] [--maps M] [--threads T] [--all]
#                         [--commands a,b,...] [--no-build] [--keep DIR] [--same-out]
#                         [--baseline OLD_VMPIPE]
#
# Starts the load (benches/loadgen: N processes x M mappings, default 200 x 300), then runs
# every command once per round, ALTERNATING (round r starts at the r-th command, so no command
# always runs first or right after the same neighbour), for a discarded warm-up round and
# --rounds measured rounds (default 7). Prints a Markdown table: median wall time, spread
# (min-max), the median of the per-round ratios to the floor (and their range), median CPU
# time (user+sys) and peak RSS (max over rounds, GNU time's %M of the command and everything
# it waited for). The machine may be shared: only the ratios mean much.
#
# The floor is the kernel producing the smaps text: `cat /proc/PID/smaps... > /dev/null`.
# --all measures every process on the machine instead of the load's (the load still runs).
# Every vmpipe run writes into a fresh --out directory; --same-out reuses one, so each run also
# replaces the last run's files (which costs the file system the freeing of them).
# Commands (--commands picks a subset; floor is always run):
#   floor            cat of every selected smaps
#   floor-2par       the same pids in two halves, two cats in parallel (does the machine give
#                    two cores? ~0.5 if it does)
#   cat-maps         cat of every selected maps
#   maps-t1|maps-t2  vmpipe run pipelines/maps-only.toml --threads 1 | 2
#   none-t1|none-t2  vmpipe, smaps with no analyzer, only a CSV sink, 1 | 2 threads
#   full-t1|full-t2  vmpipe run pipelines/all-procs.toml (every built-in analyzer, CSV, summary)
#   pmap             pmap -X, at most 255 pids per call
#   smem             smem -t -P '^vmpipe-loadgen-child' (the load's argv[0]; no -P with --all)
#   psutil-full      psutil Process.memory_full_info() per pid (reads smaps_rollup)
#   psutil-maps      psutil Process.memory_maps(grouped=False) per pid (parses full smaps)
#   base-maps-t1|base-none-t1|base-full-t1
#                    with --baseline OLD_VMPIPE: the same runs by another vmpipe binary (an
#                    older commit's), for an A/B of a change in the same rounds
# Needs: /usr/bin/time (GNU time), pmap (procps), smem; psutil rows are skipped without psutil.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=7
PROCS=200
MAPS=300
THREADS=4
ALL=0
BUILD=1
KEEP=""
ONLY=""
SAME_OUT=0
BASE=""
while (($#)); do
    case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --procs) PROCS=$2; shift 2 ;;
    --maps) MAPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --all) ALL=1; shift ;;
    --commands) ONLY=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=$2; shift 2 ;;
    --same-out) SAME_OUT=1; shift ;;
    --baseline) BASE=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "sweep.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "sweep.sh: needs GNU time at /usr/bin/time (apt-get install -y time)" >&2; exit 2; }

if ((BUILD)); then
    echo "== cargo build --release -p vmpipe -p vmpipe-loadgen" >&2
    cargo build --release -p vmpipe -p vmpipe-loadgen >&2
fi

# Private copies: others may rebuild target/release while we measure.
WORK=${KEEP:-$(mktemp -d /tmp/vmpipe-sweep.XXXXXX)}
mkdir -p "$WORK/bin" "$WORK/out" "$WORK/rss"
cp target/release/vmpipe target/release/vmpipe-loadgen "$WORK/bin/"
VMPIPE=$WORK/bin/vmpipe
if [[ -n $BASE ]]; then
    cp "$BASE" "$WORK/bin/vmpipe-base" || { echo "sweep.sh: no baseline binary $BASE" >&2; exit 2; }
fi

LPID=""
cleanup() {
    if [[ -n $LPID ]]; then
        kill -TERM "$LPID" 2>/dev/null || true
        wait "$LPID" 2>/dev/null || true
        rm -rf "/tmp/vmpipe-loadgen.$LPID"
    fi
    [[ -n $KEEP ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the load ------------------------------------------------------------------------------
echo "== load: $PROCS processes x $MAPS mappings ($THREADS threads each)" >&2
"$WORK/bin/vmpipe-loadgen" -n "$PROCS" -m "$MAPS" -t "$THREADS" >"$WORK/pids.txt" 2>"$WORK/loadgen.err" &
LPID=$!
for ((i = 0; i < 1200; i++)); do
    grep -qx ready "$WORK/pids.txt" 2>/dev/null && break
    kill -0 "$LPID" 2>/dev/null || { cat "$WORK/loadgen.err" >&2; exit 1; }
    sleep 0.1
done
grep -qx ready "$WORK/pids.txt" || { echo "sweep.sh: load not ready after 120 s" >&2; exit 1; }
cat "$WORK/loadgen.err" >&2
mapfile -t LOAD < <(grep -vx ready "$WORK/pids.txt")

if ((ALL)); then
    mapfile -t PIDS < <(ls /proc | grep -E '^[0-9]+$' | sort -n)
else
    PIDS=("${LOAD[@]}")
fi
SMAPS=("${PIDS[@]/#//proc/}") && SMAPS=("${SMAPS[@]/%//smaps}")
MAPSF=("${PIDS[@]/#//proc/}") && MAPSF=("${MAPSF[@]/%//maps}")
HALF=$((${#SMAPS[@]} / 2))
PIDARGS=()
((ALL)) || for p in "${PIDS[@]}"; do PIDARGS+=(--pid "$p"); done
# (cat fails on a process that exits meanwhile: --all)
regions=$({ cat "${MAPSF[@]}" 2>/dev/null || true; } | wc -l)
bytes=$({ cat "${SMAPS[@]}" 2>/dev/null || true; } | wc -c)
echo "== selected: ${#PIDS[@]} processes, $regions regions, $((bytes / 1024 / 1024)) MiB of smaps text" >&2

cat >"$WORK/smaps-none.toml" <<'EOF'
description = "benchmark: smaps, no analyzer, CSV only"
[source]
type = "live"
processes = "all"
detail = "smaps"
[[sink]]
type = "csv"
dir = "vmpipe-out/bench-smaps-none"
EOF

PY=$(command -v python3 || true)
[[ -n $PY ]] && PY=$("$PY" -c 'import sys; print(sys.executable)' 2>/dev/null || true)
HAVE_PSUTIL=0
[[ -n $PY ]] && "$PY" -c 'import psutil' 2>/dev/null && HAVE_PSUTIL=1
cat >"$WORK/psutil_sweep.py" <<'EOF'
import sys, psutil
mode = sys.argv[1]
pids = [int(p) for p in sys.argv[2:]] or psutil.pids()
for pid in pids:
    try:
        p = psutil.Process(pid)
        if mode == "full":
            p.memory_full_info()
        else:
            p.memory_maps(grouped=False)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        pass
EOF

# --- the commands: each runs under GNU time, which writes "%M %U %S" to $RSSF ---------------
T() { "$TIME" -f '%M %U %S' -o "$RSSF" "$@"; }
run_floor() { T cat "${SMAPS[@]}" >/dev/null 2>&1; }
run_floor-2par() {
    T bash -c 'cat "${@:1:$0}" >/dev/null 2>&1 & cat "${@:$0+1}" >/dev/null 2>&1; wait' \
        "$HALF" "${SMAPS[@]}"
}
run_cat-maps() { T cat "${MAPSF[@]}" >/dev/null 2>&1; }
vm() { T "$VMPIPE" run "$@" "${PIDARGS[@]}" --quiet >/dev/null; }
run_maps-t1() { vm pipelines/maps-only.toml --threads 1 --out "$WORK/out/maps"; }
run_maps-t2() { vm pipelines/maps-only.toml --threads 2 --out "$WORK/out/maps2"; }
run_none-t1() { vm "$WORK/smaps-none.toml" --threads 1 --out "$WORK/out/none1"; }
run_none-t2() { vm "$WORK/smaps-none.toml" --threads 2 --out "$WORK/out/none2"; }
run_full-t1() { vm pipelines/all-procs.toml --threads 1 --out "$WORK/out/full1"; }
run_full-t2() { vm pipelines/all-procs.toml --threads 2 --out "$WORK/out/full2"; }
vmb() { T "$WORK/bin/vmpipe-base" run "$@" "${PIDARGS[@]}" --quiet >/dev/null; }
run_base-maps-t1() { vmb pipelines/maps-only.toml --threads 1 --out "$WORK/out/bmaps"; }
run_base-none-t1() { vmb "$WORK/smaps-none.toml" --threads 1 --out "$WORK/out/bnone1"; }
run_base-full-t1() { vmb pipelines/all-procs.toml --threads 1 --out "$WORK/out/bfull1"; }
run_pmap() {
    T bash -c 'while (($#)); do n=$(($# < 255 ? $# : 255)); pmap -X "${@:1:n}"; shift "$n"; done' \
        _ "${PIDS[@]}" >/dev/null 2>&1
}
run_smem() {
    if ((ALL)); then T smem -t >/dev/null; else T smem -t -P '^vmpipe-loadgen-child' >/dev/null; fi
}
run_psutil-full() { T "$PY" "$WORK/psutil_sweep.py" full "${PIDS_OR_ALL[@]}" >/dev/null; }
run_psutil-maps() { T "$PY" "$WORK/psutil_sweep.py" maps "${PIDS_OR_ALL[@]}" >/dev/null; }
PIDS_OR_ALL=()
((ALL)) || PIDS_OR_ALL=("${PIDS[@]}")

CMDS=(floor floor-2par cat-maps maps-t1 maps-t2 none-t1 none-t2 full-t1 full-t2 pmap smem)
((HAVE_PSUTIL)) && CMDS+=(psutil-full psutil-maps)
[[ -n $BASE ]] && CMDS+=(base-maps-t1 base-none-t1 base-full-t1)
if [[ -n $ONLY ]]; then
    sel=(floor)
    IFS=, read -ra want <<<"$ONLY"
    for c in "${want[@]}"; do [[ $c == floor ]] || sel+=("$c"); done
    CMDS=("${sel[@]}")
fi
for c in "${CMDS[@]}"; do declare -F "run_$c" >/dev/null || { echo "sweep.sh: no command $c" >&2; exit 2; }; done

# --- the rounds ------------------------------------------------------------------------------
RAW=$WORK/raw.tsv
printf 'round\tcommand\twall_us\trss_kb\tcpu_s\tstatus\n' >"$RAW"
K=${#CMDS[@]}
for ((r = 0; r <= ROUNDS; r++)); do
    for ((j = 0; j < K; j++)); do
        c=${CMDS[(r + j) % K]}
        RSSF=$WORK/rss/$c
        # Every run writes into a fresh output directory: replacing the last run's files would
        # add the file system's cost of freeing them (ext4 mounted with `discard` frees a 9 MB
        # regions.csv inside the rename that replaces it, ~13 ms), which is not the sweep's.
        # --same-out keeps them, to measure that cost too.
        ((SAME_OUT)) || rm -rf "$WORK/out"
        t0=${EPOCHREALTIME/./}
        status=0
        "run_$c" || status=$?
        t1=${EPOCHREALTIME/./}
        read -r rss u s < <(tail -n 1 "$RSSF")
        cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
        printf '%d\t%s\t%d\t%s\t%s\t%d\n' "$r" "$c" $((t1 - t0)) "$rss" "$cpu" "$status" >>"$RAW"
        if ((status != 0 && r == 0)) && ! [[ $ALL == 1 && $c =~ ^(floor|floor-2par|cat-maps|pmap)$ ]]; then
            echo "sweep.sh: warning: $c exited with status $status" >&2
        fi
    done
    ((r == 0)) && echo "== warm-up round done" >&2 || echo "== round $r/$ROUNDS done" >&2
done

# --- the summary -----------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v c="$1" -v k="$2" '$1 > 0 && $2 == c { print $k }' "$RAW"; }
ratios() {
    awk -F'\t' -v c="$1" '$1 > 0 && $2 == "floor" { f[$1] = $3 } $1 > 0 && $2 == c { w[$1] = $3 }
        END { for (r in w) if (f[r] > 0) printf "%.4f\n", w[r] / f[r] }' "$RAW"
}

echo
echo "Load: ${#LOAD[@]} processes x $MAPS mappings ($THREADS threads each); measured: $( ((ALL)) && echo "every process (--all)" || echo "the load"), ${#PIDS[@]} processes, $regions regions, $((bytes / 1024 / 1024)) MiB smaps text; $ROUNDS rounds (+1 warm-up), alternating."
echo
echo "| command | median ms | spread ms (min–max) | × floor (median) | × floor (min–max) | CPU ms (user+sys) | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for c in "${CMDS[@]}"; do
    med=$(col "$c" 3 | median)
    lo=$(col "$c" 3 | sort -g | head -1)
    hi=$(col "$c" 3 | sort -g | tail -1)
    rmed=$(ratios "$c" | median)
    rlo=$(ratios "$c" | sort -g | head -1)
    rhi=$(ratios "$c" | sort -g | tail -1)
    cpu=$(col "$c" 5 | median)
    rss=$(col "$c" 4 | sort -g | tail -1)
    bad=$(awk -F'\t' -v c="$c" '$1 > 0 && $2 == c && $6 != 0' "$RAW" | wc -l)
    note=""
    # With --all, cat and pmap fail on processes that exit meanwhile: expected.
    [[ $ALL == 1 && $c =~ ^(floor|floor-2par|cat-maps|pmap)$ ]] && bad=0
    ((bad)) && note=" ($bad runs exited non-zero)"
    awk -v c="$c" -v m="$med" -v lo="$lo" -v hi="$hi" -v rm="$rmed" -v rl="$rlo" -v rh="$rhi" \
        -v cpu="$cpu" -v rss="$rss" -v note="$note" 'BEGIN {
        printf "| %s%s | %.0f | %.0f–%.0f | %.2f | %.2f–%.2f | %.0f | %.1f |\n",
            c, note, m / 1000, lo / 1000, hi / 1000, rm, rl, rh, cpu * 1000, rss / 1024 }'
done
echo
echo "raw per-run data: $RAW$([[ -n $KEEP ]] || echo ' (removed at exit; use --keep DIR to keep it)')"
