// CPU time of a process group from /proc, for "CPU-seconds per 10k requests".
//
// /proc/<pid>/stat of a process already sums all its threads (Legate's workers, HAProxy's threads);
// nginx's workers are separate processes, so we sum every process whose process group is the one we
// spawned (see lib/procs.ts: every child leads its own group). Linux only: elsewhere this returns null
// and the report shows "-".

import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 0;

function ticksPerSecond(): number {
  if (clkTck === 0) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

// Fields after the ")" that ends comm (comm may itself contain spaces and parentheses):
// 0 state, 1 ppid, 2 pgrp, ... 11 utime, 12 stime (proc(5) numbers them 3, 4, 5, ... 14, 15).
const PGRP = 2;
const UTIME = 11;
const STIME = 12;

/** Seconds of user+system CPU used so far by every process in group `pgid`, or null without /proc. */
export function groupCpuSeconds(pgid: number): number | null {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return null;
  }
  let ticks = 0;
  let found = false;
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // exited while we were looking
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[PGRP]) !== pgid) continue;
    found = true;
    ticks += Number(fields[UTIME]) + Number(fields[STIME]);
  }
  return found ? ticks / ticksPerSecond() : null;
}
