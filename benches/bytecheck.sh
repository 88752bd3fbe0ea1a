#!/usr/bin/env bash
# benches/bytecheck.sh OLD NEW — old vs new vmpipe binary, byte for byte, over every vmmap fixture,
# a snapshot (capture pipeline) and a live stopped target (all-procs pipeline, --pid).
# Prints one line per set; stdout is compared with the timing figures "(0.00s)" removed.
# (A refactor that must not change output: build the old commit into another target dir, e.g.
# git worktree add /tmp/old REV && CARGO_TARGET_DIR=/tmp/old-target cargo build --release -p vmpipe
# --features cli --manifest-path /tmp/old/Cargo.toml, then run this with both binaries. Needs root, gcc.)
set -u
OLD=$1; NEW=$2; W=/tmp/bytecheck; rm -rf $W; mkdir -p $W
cd "$(dirname "$0")/.."
F=${FIXTURES:-$PWD/tests/fixtures}
untime() { sed -E 's/\([0-9.]+s\)//g' "$1"; }
# The live target is a static binary that maps no shared library, so no other process moves
# its pss between two runs.
printf '#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\nint main(void){char *p=malloc(1<<20);memset(p,7,1<<20);for(;;)pause();}\n' > $W/target.c
gcc -static -O2 -o $W/target $W/target.c || exit 1
$W/target & T=$!
until [ "$(readlink /proc/$T/exe)" = "$W/target" ]; do sleep 0.05; done
sleep 0.2; kill -STOP $T
until grep -q "^State:.*T" /proc/$T/status; do sleep 0.05; done
$NEW snapshot --out $W/snap >/dev/null 2>&1
for b in old new; do
  BIN=$OLD; [ $b = new ] && BIN=$NEW
  for f in $F/vmmap/*.txt; do
    n=$(basename $f .txt)
    $BIN run pipelines/vmmap-report.toml --input $f --out $W/$b-vmmap/$n > $W/$b-stdout-vmmap-$n 2>/dev/null
  done
  $BIN run pipelines/capture.toml --input $W/snap --out $W/$b-cap > $W/$b-stdout-cap 2>/dev/null
  # The text report written to a file rather than standard output, in both styles.
  mkdir -p $W/$b-file
  sed "s|^path = \"-\"|path = \"$W/$b-file/report.txt\"|" pipelines/capture.toml > $W/$b-capture-file.toml
  $BIN run $W/$b-capture-file.toml --input $W/snap --out $W/$b-file/cap > /dev/null 2>&1
  sed -E -i 's/\([0-9.]+s\)//g' $W/$b-file/cap/report.txt
  sed "s|^path = \"-\"|path = \"$W/$b-file/vmmap.txt\"|" pipelines/vmmap-report.toml > $W/$b-vmmap-file.toml
  for f in $F/vmmap/*.txt; do
    $BIN run $W/$b-vmmap-file.toml --input $f --out $W/$b-file/vmmap-$(basename $f .txt) > /dev/null 2>&1
  done
done
$OLD run pipelines/all-procs.toml --pid $T --out $W/old-live > $W/old-stdout-live 2>/dev/null
$NEW run pipelines/all-procs.toml --pid $T --out $W/new-live > $W/new-stdout-live 2>/dev/null
kill -9 $T; wait $T 2>/dev/null
for k in vmmap cap live file; do
  files=$(find $W/new-$k -name '*.csv' | wc -l)
  lines=$(find $W/new-$k -name regions.csv -exec cat {} + | wc -l)
  out=same
  for o in $W/old-stdout-$k*; do
    [ -e "$o" ] || continue
    n=${o#$W/old-}
    cmp -s <(untime $o) <(untime $W/new-$n) || out="DIFFERS ($n)"
  done
  if diff -r $W/old-$k $W/new-$k >/dev/null; then csv=identical; else csv=DIFFER; fi
  echo "$k: $files CSV files, $lines regions.csv lines: CSV $csv, stdout $out"
done
