"""Server-side resource figures read from /proc: CPU seconds (all threads) and peak RSS of the server, which
may be several processes (on SQLite `tracktion serve` writes in a child process of its own)."""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class CpuSample:
    user_s: float
    system_s: float

    @property
    def total_s(self) -> float:
        return self.user_s + self.system_s


def parse_stat(text: str) -> CpuSample:
    """utime/stime of a /proc/<pid>/stat line. The command name (field 2) may contain spaces and
    parentheses, so fields are counted from the last ')'."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    utime, stime = int(rest[11]), int(rest[12])
    return CpuSample(utime / CLOCK_TICKS, stime / CLOCK_TICKS)


def cpu(pid: int) -> CpuSample:
    with open(f"/proc/{pid}/stat") as f:
        return parse_stat(f.read())


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (Linux ≥ 3.5 lists each thread's children in /proc)."""
    out = [pid]
    i = 0
    while i < len(out):
        try:
            tasks = os.listdir(f"/proc/{out[i]}/task")
        except OSError:
            tasks = []
        for tid in tasks:
            try:
                with open(f"/proc/{out[i]}/task/{tid}/children") as f:
                    out += [int(c) for c in f.read().split()]
            except OSError:
                continue
        i += 1
    return out


def tree_cpu(pid: int) -> CpuSample:
    """CPU of the server and its child processes (a child that exits during the point is not counted)."""
    user = system = 0.0
    for p in process_tree(pid):
        try:
            sample = cpu(p)
        except OSError:
            continue
        user += sample.user_s
        system += sample.system_s
    return CpuSample(user, system)


def parse_status_kb(text: str, field: str) -> int | None:
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (the resident-set high-water mark) in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            kb = parse_status_kb(f.read(), "VmHWM")
    except OSError:
        return None
    return None if kb is None else kb / 1024.0


def tree_peak_rss_mb(pid: int) -> float | None:
    """The largest peak RSS of any process of the server (the target is per process)."""
    peaks = [p for p in (peak_rss_mb(p) for p in process_tree(pid)) if p is not None]
    return max(peaks) if peaks else None


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            kb = parse_status_kb(f.read(), "VmRSS")
    except OSError:
        return None
    return None if kb is None else kb / 1024.0


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0, `echo 5 > clear_refs`; needs to own the process or be
    root). Returns False when not possible: the peak is then cumulative since the process started."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class MachineCpu:
    busy_s: float  # user + nice + system + irq + softirq + steal, all CPUs
    steal_s: float
    iowait_s: float


def parse_proc_stat(text: str) -> MachineCpu:
    fields = text.splitlines()[0].split()
    assert fields[0] == "cpu"
    values = [int(v) for v in fields[1:]] + [0] * 10
    user, nice, system, _idle, iowait, irq, softirq, steal = values[:8]
    busy = user + nice + system + irq + softirq + steal
    return MachineCpu(busy / CLOCK_TICKS, steal / CLOCK_TICKS, iowait / CLOCK_TICKS)


def machine_cpu() -> MachineCpu | None:
    try:
        with open("/proc/stat") as f:
            return parse_proc_stat(f.read())
    except (OSError, AssertionError, ValueError):
        return None


def own_and_children_cpu_s() -> float:
    """CPU of the harness itself plus its reaped children (wrk): the load generator's share."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class ThreadSample:
    cpu_s: float  # utime + stime
    runq_wait_s: float  # time spent runnable but waiting for a CPU (schedstat): contention from anything else


def thread_group(name: str) -> str:
    """`tracktion-read_0`, `tracktion-read_1` → `tracktion-read`; thread names are cut to 15 characters."""
    return name.rstrip("0123456789").rstrip("_-") or name


def threads(pid: int) -> dict[str, ThreadSample]:
    """Per thread group of the server: CPU and run-queue wait, summed over the group's threads. For
    tracktion `main` is the event loop; `other threads` the writer thread, the read pool and executors;
    `writer process` every thread of the SQLite writer process."""
    out: dict[str, ThreadSample] = {}
    for child in process_tree(pid)[1:]:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        group = "writer process" if b"sqlite_writer_process" in cmdline else "child process"
        for sample in _threads(child).values():
            prev = out.get(group, ThreadSample(0.0, 0.0))
            out[group] = ThreadSample(prev.cpu_s + sample.cpu_s, prev.runq_wait_s + sample.runq_wait_s)
    return _threads(pid) | out


def _threads(pid: int) -> dict[str, ThreadSample]:
    out: dict[str, ThreadSample] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/comm") as f:
                comm = f.read().strip()
            # Python (< 3.14) does not name OS threads: all are `python` but the main one (the event loop).
            if tid == str(pid):
                name = "main"
            elif comm.startswith("python"):
                name = "other threads"
            else:
                name = thread_group(comm)
            with open(f"{base}/stat") as f:
                cpu_sample = parse_stat(f.read())
            with open(f"{base}/schedstat") as f:
                wait_ns = int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        prev = out.get(name, ThreadSample(0.0, 0.0))
        out[name] = ThreadSample(prev.cpu_s + cpu_sample.total_s, prev.runq_wait_s + wait_ns / 1e9)
    return out


def thread_deltas(
    before: dict[str, ThreadSample], after: dict[str, ThreadSample], seconds: float
) -> dict[str, dict[str, float]]:
    """Per thread group: cores of CPU used and cores' worth of run-queue waiting over `seconds`."""
    out: dict[str, dict[str, float]] = {}
    for name, a in after.items():
        b = before.get(name, ThreadSample(0.0, 0.0))
        cpu = a.cpu_s - b.cpu_s
        wait = a.runq_wait_s - b.runq_wait_s
        if cpu <= 0 and wait <= 0:
            continue
        out[name] = {
            "cpu_cores": round(cpu / seconds, 3) if seconds > 0 else 0.0,
            "runq_wait_cores": round(wait / seconds, 3) if seconds > 0 else 0.0,
        }
    return out
