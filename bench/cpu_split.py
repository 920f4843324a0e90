#!/usr/bin/env python3
"""CPU each process used over a few seconds, in cores (utime+stime from /proc),
and how busy the whole machine was. Outside CI.
  bench/cpu_split.py SECONDS name=pid ..."""
import os, sys, time

secs = float(sys.argv[1]); procs = [a.split("=") for a in sys.argv[2:]]
tck = os.sysconf("SC_CLK_TCK")
def t(pid):
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck
def total():
    # user nice system idle iowait irq softirq steal (guest time is in user)
    f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(f) / tck, (f[3] + f[4]) / tck
a = {n: t(p) for n, p in procs}; A, Ai = total()
time.sleep(secs)
b = {n: t(p) for n, p in procs}; B, Bi = total()
wall = (B - A) / os.cpu_count()
print("machine busy: %.0f%% of %d cores over %.1f s" % (100 * (1 - (Bi - Ai) / (B - A)), os.cpu_count(), wall))
for n, _ in procs:
    print("  %-10s %.2f cores" % (n, (b[n] - a[n]) / secs))
