/**
 * What the pipeline bench reads from outside the processes it measures: CPU time and memory from
 * /proc (the same for our workers, Kafka and Elasticsearch), the machine's busy share, and the
 * workers' own Prometheus counters from /metrics. Nothing here changes a process.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

let clockTicks = 0;
/** Kernel clock ticks per second (USER_HZ), the unit of utime and stime in /proc/<pid>/stat. */
function ticksPerSecond(): number {
  if (!clockTicks) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100; // the value on every Linux architecture Node runs on
    }
  }
  return clockTicks;
}

/** User + system CPU seconds a process has used so far (threads included), or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [utime, stime] = [Number(rest[11]), Number(rest[12])];
    return (utime + stime) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/** Resident memory now (VmRSS) and its peak since the process started (VmHWM), in MiB. */
export function memoryMiB(pid: number): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of all cores since boot (/proc/stat): the machine's load over an interval. */
export function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already inside user
  const idle = v[3] + (v[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
}

/** The machine a run was measured on, from /proc/cpuinfo and /proc/meminfo. */
export function machineInfo(): MachineInfo {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length || os.cpus().length;
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const memKiB = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  return { cpuModel, cores, memoryGiB: Math.round((memKiB / 1048576) * 10) / 10, kernel: os.release(), node: process.version };
}

/** One scrape of a worker's /metrics: samples by name, labels kept as the raw `{...}` text. */
export type Scrape = Map<string, { labels: string; value: number }[]>;

export async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`/metrics on port ${port} answered ${res.status}`);
  const out: Scrape = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const list = out.get(m[1]) ?? [];
    list.push({ labels: m[2] ?? '', value: Number(m[3]) });
    out.set(m[1], list);
  }
  return out;
}

/** The sum of a counter over all its label sets (0 when the worker has not registered it yet). */
export function total(s: Scrape | undefined, name: string): number {
  return (s?.get(name) ?? []).reduce((a, x) => a + x.value, 0);
}

/** Cumulative bucket counts of a histogram, by upper bound (le), summed over other labels. */
export function buckets(s: Scrape | undefined, name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const x of s?.get(`${name}_bucket`) ?? []) {
    const le = /le="([^"]+)"/.exec(x.labels)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + x.value);
  }
  return out;
}

/**
 * A quantile of the observations between two scrapes of a histogram, interpolated linearly inside
 * its bucket the way Prometheus' histogram_quantile does (the top finite bound when it falls in
 * +Inf). Undefined when nothing was observed in between.
 */
export function quantileBetween(before: Map<number, number>, after: Map<number, number>, q: number): number | undefined {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const n = counts[counts.length - 1] ?? 0;
  if (n <= 0) return undefined;
  const rank = q * n;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] < rank) continue;
    const lower = i === 0 ? 0 : bounds[i - 1];
    if (bounds[i] === Infinity) return lower;
    const below = i === 0 ? 0 : counts[i - 1];
    const inBucket = counts[i] - below;
    return inBucket > 0 ? lower + ((bounds[i] - lower) * (rank - below)) / inBucket : bounds[i];
  }
  return undefined;
}

/** Histogram observation count between two scrapes. */
export function countBetween(before: Map<number, number>, after: Map<number, number>): number {
  return (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
}
