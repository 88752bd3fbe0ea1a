#!/usr/bin/env bash
# Runs vmpipe's fuzz targets, one after another, each for a set time.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 600 per target; TARGET defaults to every target (the report parser
# first). Each target runs on one core (one libFuzzer process, one thread: libFuzzer's
# default), from and into its corpus in fuzz/corpus/TARGET, with debug assertions (so integer
# overflow panics, as in `cargo test`) and AddressSanitizer. After each target the script
# prints its run time and exec count (libFuzzer's final stats); it stops at the first crash,
# leak or timeout and prints the artifact to reproduce it with:
#
#   fuzz/run.sh 0 fuzz_vmmap                                 # build only, run nothing
#   cargo fuzz run -a TARGET fuzz/artifacts/TARGET/crash-…   # reproduce (from fuzz/)
#   cargo fuzz tmin -a TARGET fuzz/artifacts/TARGET/crash-…  # minimize
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a toolchain that accepts -Z flags: a
# nightly, or stable with RUSTC_BOOTSTRAP=1 (set here unless already set). Logs go to
# fuzz/artifacts/logs/TARGET.log (not committed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

secs=${1:-600}
if [ $# -gt 0 ]; then shift; fi
all=(fuzz_vmmap fuzz_smaps fuzz_capture fuzz_tar fuzz_pipeline fuzz_maps fuzz_map_stream fuzz_status_stat fuzz_cell)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

# The largest input each target is given: about the largest real file of its kind, scaled
# down where a bigger input only slows the search (a capture's gzip inflates ~1000x).
max_len() {
    case "$1" in
        fuzz_vmmap | fuzz_smaps) echo 1048576 ;;
        fuzz_capture | fuzz_tar | fuzz_maps | fuzz_map_stream) echo 262144 ;;
        fuzz_pipeline | fuzz_status_stat) echo 65536 ;;
        fuzz_cell) echo 16384 ;;
        *) echo "run.sh: unknown target $1 (targets: ${all[*]})" >&2; exit 2 ;;
    esac
}
for t in "${targets[@]}"; do max_len "$t" >/dev/null; done

export RUSTC_BOOTSTRAP=${RUSTC_BOOTSTRAP:-1}
fuzz=(cargo fuzz)
flags=(--debug-assertions --sanitizer address)

"${fuzz[@]}" build "${flags[@]}" 2>&1 | tail -n 3 ||
    { echo "run.sh: build failed" >&2; exit 1; }
[ "$secs" -gt 0 ] || exit 0

mkdir -p artifacts/logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log=artifacts/logs/$t.log
    echo "== $t: ${secs}s, -max_len=$(max_len "$t"), corpus corpus/$t ($(find "corpus/$t" -type f | wc -l) files)"
    start=$(date +%s)
    set +e
    "${fuzz[@]}" run "${flags[@]}" "$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -max_len="$(max_len "$t")" -timeout=60 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    done_line=$(grep -E '^Done [0-9]+ runs in' "$log" | tail -n 1 || true)
    echo "   $t: rc=$rc, ${took}s wall, ${execs:-?} execs; ${done_line:-no Done line}; corpus now $(find "corpus/$t" -type f | wc -l) files"
    if [ "$rc" -ne 0 ]; then
        echo "   $t FAILED (log: fuzz/$log):"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' "$log" | head -n 20 | sed 's/^/     /'
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "   artifact: ${artifact:-none written; see the log}"
        exit 1
    fi
done
