#!/usr/bin/env bash
# Pools the rounds of several bench/run.sh reports into one set of tables: medians over all
# their rounds, and pgscope/PgBouncer paired by round over all of them. One run's 3–6 rounds
# cannot show a 0–6 % difference when the rounds of one cell spread by 4–24 %; the rounds of
# several runs can narrow that. Pool only runs of the same settings (duration, scale) and of
# builds whose difference is not what you want to measure.
#
# Usage: bash bench/pool.sh bench/results/A.md bench/results/B.md ...
#
# Each report's raw runs (the block at its end) are read; every report must have run the same
# targets and cells, and at the same clock tick rate.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
    echo "pool: $*" >&2
    exit 1
}
(($# > 0)) || die "usage: bash bench/pool.sh REPORT.md ..."

RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT
tck= targets= cells= rounds=0
for report in "$@"; do
    [[ -f $report ]] || die "$report: no such file"
    t=$(sed -n 's/.*cpu ticks @ \([0-9]*\) Hz.*/\1/p' "$report")
    [[ -n $t ]] || die "$report: no raw runs block (not a bench/run.sh report?)"
    [[ -z $tck || $t == "$tck" ]] || die "$report: ticks at $t Hz, the others at $tck Hz"
    tck=$t
    runs=$(awk '/^```$/ {f = !f; next} f' "$report")
    [[ -n $runs ]] || die "$report: its raw runs block is empty"
    these=$(cut -f3 <<<"$runs" | sort -u | paste -sd' ')
    [[ -z $targets || $these == "$targets" ]] || die "$report: targets '$these', the others '$targets'"
    targets=$these
    # Cells in the order the report ran them.
    mine=$(cut -f2 <<<"$runs" | awk '!seen[$0]++' | paste -sd'|')
    [[ -z $cells || $mine == "$cells" ]] || die "$report: cells '$mine', the others '$cells'"
    cells=$mine
    rounds=$((rounds + $(cut -f1 <<<"$runs" | sort -u | wc -l)))
    printf '%s\n' "$runs" >>"$RAW"
done

echo "## pgscope benchmark, $rounds rounds pooled from $# report(s)"
echo
for report in "$@"; do
    echo "- \`$(basename "$report")\`: $(sed -n 's/^- commit: //p' "$report"); $(sed -n 's/^- settings: //p' "$report")"
done
echo
echo "Medians over all $rounds rounds. CPU/tx = (utime+stime of the proxy process over the run) / transactions."
echo
awk -F'\t' -v tck="$tck" -v cells="$cells" -f "$ROOT/bench/tables.awk" "$RAW"
