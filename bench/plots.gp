# gnuplot script for bench/run: gnuplot -e "dir='RESULTS'" plots.gp
set terminal pngcairo size 1000,580 font ",10" noenhanced
set datafile separator whitespace
set grid ytics

# 1. call cost bars
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

# 2. update latency vs busy callers
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
plot for [i=2:6] dir."/update.dat" using 1:i with linespoints lw 2 pt 7 title columnheader(i)

# 3. batch time vs sites
reset
set terminal pngcairo size 800,500 font ",10" noenhanced
set output dir."/batch.png"
set title "One batch commit: median time vs static calls in the batch (no busy callers)"
set xlabel "static calls in the batch"
set ylabel "µs"
set logscale xy
set grid
set key top left
plot for [i=2:5] dir."/batch.dat" using 1:i with linespoints lw 2 pt 7 title columnheader(i)

# 4. update with inline sites vs sites (bench/update_inline)
if (system("test -s ".dir."/update_inline.dat && echo y") eq "y") {
  reset
  set terminal pngcairo size 800,500 font ",10" noenhanced
  set output dir."/update_inline.png"
  set title "One static_call_update() of a static call with N inline sites (median)"
  set xlabel "inline sites of the static call"
  set ylabel "µs (log scale)"
  set logscale y
  set grid
  set key top left
  set key autotitle columnheader # every plot of the file skips its header
  plot for [i=2:5] dir."/update_inline.dat" using 0:i:xtic(1) with linespoints lw 2 pt 7 title columnheader(i), \
       for [i=6:7] dir."/update_inline.dat" using 0:i with lines dt 2 lw 1 lc rgb "gray40" title columnheader(i), \
       dir."/update_inline.dat" using 0:(3.5*$7) with lines dt 3 lw 2 lc rgb "red" title "goal: 3.5 x raw sync (1 busy)"
}
