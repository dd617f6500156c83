# The report's tables from raw runs (tab-separated: round, cell, target, tps, transactions,
# cpu ticks), for bench/run.sh and bench/pool.sh.
# Variables: tck (clock ticks per second), cells ('|'-separated cell names, in report order).
# Rows are paired by their order: the nth run of a target in a cell belongs to the same round
# as the nth run of every other target in that cell.
function median(key,   n, i, j, a, t) {
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { vals[key] = (key in vals) ? vals[key] " " v : v }
# pgscope against ref, medians per cell.
function versus(ref,   i, s, o, sc, oc) {
    print ""
    print "| cell | pgscope TPS | " ref " TPS | pgscope/" ref " | pgscope µs CPU/tx | " ref " µs CPU/tx |"
    print "|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nc; i++) {
        s = median(c[i] SUBSEP "pgscope" SUBSEP "tps")
        o = median(c[i] SUBSEP ref SUBSEP "tps")
        sc = median(c[i] SUBSEP "pgscope" SUBSEP "cpu")
        oc = median(c[i] SUBSEP ref SUBSEP "cpu")
        printf "| %s | %.0f | %.0f | %.2f | %.1f | %.1f |\n", c[i], s, o, s / o, sc, oc
    }
}
# The table of pgscope/ref from the two runs of each round, per cell.
function paired(ref,   i, j, n, st, bt, sx, bx, won) {
    print ""
    print "Paired by round: pgscope/" ref " from the two runs of the same round (minutes apart), as the median and range over rounds. Rounds won: pgscope had at least the TPS and at most the CPU/tx."
    print ""
    print "| cell | TPS ratio median | TPS ratio range | CPU/tx ratio median | CPU/tx ratio range | rounds won |"
    print "|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nc; i++) {
        n = split(vals[c[i] SUBSEP "pgscope" SUBSEP "tps"], st, " ")
        split(vals[c[i] SUBSEP ref SUBSEP "tps"], bt, " ")
        split(vals[c[i] SUBSEP "pgscope" SUBSEP "cpu"], sx, " ")
        split(vals[c[i] SUBSEP ref SUBSEP "cpu"], bx, " ")
        delete vals["t"]; delete vals["x"]; won = 0
        for (j = 1; j <= n; j++) {
            add("t", st[j] / bt[j]); add("x", sx[j] / bx[j])
            if (st[j] + 0 >= bt[j] + 0 && sx[j] + 0 <= bx[j] + 0) won++
        }
        printf "| %s | %.3f | %.3f–%.3f | %.3f | %.3f–%.3f | %d/%d |\n", c[i], median("t"), lo("t"), hi("t"), median("x"), lo("x"), hi("x"), won, n
    }
}
function lo(key,   n, i, a, m) { n = split(vals[key], a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
function hi(key,   n, i, a, m) { n = split(vals[key], a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
{
    add($2 SUBSEP $3 SUBSEP "tps", $4)
    if ($3 != "direct") add($2 SUBSEP $3 SUBSEP "cpu", $6 * 1e6 / tck / $5)
}
END {
    print "| cell | direct TPS | pgbouncer TPS | pgscope TPS | pgscope/pgbouncer | pgscope/direct | pgbouncer µs CPU/tx | pgscope µs CPU/tx |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    nc = split(cells, c, "|")
    for (i = 1; i <= nc; i++) {
        d = median(c[i] SUBSEP "direct" SUBSEP "tps")
        b = median(c[i] SUBSEP "pgbouncer" SUBSEP "tps")
        s = median(c[i] SUBSEP "pgscope" SUBSEP "tps")
        bc = median(c[i] SUBSEP "pgbouncer" SUBSEP "cpu")
        sc = median(c[i] SUBSEP "pgscope" SUBSEP "cpu")
        printf "| %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.1f | %.1f |\n", c[i], d, b, s, s / b, s / d, bc, sc
    }
    paired("pgbouncer")
    if ((c[1] SUBSEP "pgbouncer-fresh" SUBSEP "tps") in vals) {
        print ""
        print "Against PgBouncer with `server_lifetime = 0` (pgbouncer-fresh): its server connections close with their client, as pgscope's do, so both start every run on new backends. The default PgBouncer above hands each run the backends of the previous one."
        versus("pgbouncer-fresh")
        paired("pgbouncer-fresh")
    }
    if ((c[1] SUBSEP "relay-only" SUBSEP "tps") in vals) {
        print ""
        print "What analysis costs: pgscope as above against pgscope with `[analysis] enabled = false` (relay only), same runs."
        versus("relay-only")
    }
}
