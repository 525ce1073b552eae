# gnuplot script for bench/run: gnuplot -e "dir='RESULTS'" plots.gp
# Every plot is drawn only when bench/report.py wrote its data file; the
# columns are the protocols of the run (NaN: n/a in this library).
have(f) = system("test -s ".dir."/".f." && echo y") eq "y"

# 1. call cost bars
if (have("calls.dat")) {
  set terminal pngcairo size 1000,580 font ",10" noenhanced
  set datafile separator whitespace
  set grid ytics
  set output dir."/calls.png"
  set title "Cost per iteration (median ns; loop overhead included; lower is better)"
  set style fill solid 0.7 border -1
  set boxwidth 0.7
  set xtics rotate by -50 left font ",8"
  set ylabel "ns per iteration"
  set bmargin 14
  set rmargin 14
  unset key
  plot dir."/calls.dat" using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
       "" using 0:2:(sprintf("%.1f", $2)) with labels offset 0,0.7 font ",7"
}

# 2. update latency vs busy callers, per protocol, and the raw membarrier
if (have("update.dat")) {
  reset
  set terminal pngcairo size 800,500 font ",10" noenhanced
  set output dir."/update.png"
  set title "One static_call_update(): median latency vs busy caller threads"
  set xlabel "busy caller threads"
  set ylabel "µs (log scale)"
  set logscale y
  set grid
  set key top left
  set xtics 1
  plot for [i=2:*] dir."/update.dat" using 1:i with linespoints lw 2 pt 7 title columnheader(i)
}

# 3. batch time vs sites
if (have("batch.dat")) {
  reset
  set terminal pngcairo size 800,500 font ",10" noenhanced
  set output dir."/batch.png"
  set title "One batch commit: median time vs static calls in the batch (no busy callers)"
  set xlabel "static calls in the batch"
  set ylabel "µs"
  set logscale xy
  set grid
  set key top left
  plot for [i=2:*] dir."/batch.dat" using 1:i with linespoints lw 2 pt 7 title columnheader(i)
}

# 4. update with inline sites vs sites (bench/update_inline), 1 busy caller
if (have("update_inline.dat")) {
  reset
  set terminal pngcairo size 800,500 font ",10" noenhanced
  set output dir."/update_inline.png"
  set title "One static_call_update() of a static call with N inline sites (median, 1 busy caller)"
  set xlabel "inline sites of the static call"
  set ylabel "µs (log scale)"
  set logscale y
  set grid
  set key top left
  set key autotitle columnheader
  plot for [i=2:*] dir."/update_inline.dat" using 0:i:xtic(1) with linespoints lw 2 pt 7 title columnheader(i)
}

# 5. µs per site beyond the syncs, by layout (bench/update_sites), 1 busy caller
if (have("sites.dat")) {
  reset
  set terminal pngcairo size 1000,520 font ",10" noenhanced
  set output dir."/sites.png"
  set title "1000 sites: µs per site beyond the syncs (median, 1 busy caller; target 1 µs)"
  set ylabel "µs per site (log scale)"
  set logscale y
  set grid ytics
  set style data histograms
  set style histogram clustered gap 1
  set style fill solid 0.7 border -1
  set xtics rotate by -30 left
  set key top left
  plot for [i=2:*] dir."/sites.dat" using i:xtic(1) title columnheader(i), \
       1 with lines dt 2 lc rgb "red" title "target: 1 µs"
}
