"""Process CPU, peak memory and disk figures read from /proc, for sizing a node from a benchmark.

The benchmark samples each node process's own counters before and after its measured window, so
the figures are what the node itself spent, not what the load generator or other tenants of the
machine spent. Linux only: elsewhere the readers raise ``OSError``.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def clock_ticks() -> int:
    """Kernel clock ticks per second, the unit of utime and stime in /proc/<pid>/stat."""
    return os.sysconf("SC_CLK_TCK")


def parse_stat(text: str) -> tuple[int, int, int]:
    """(ppid, utime, stime) in ticks from the text of /proc/<pid>/stat.

    The command name (field 2) is in parentheses and may itself hold spaces or parentheses, so the
    fields are counted from the last closing parenthesis."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
    return int(rest[1]), int(rest[11]), int(rest[12])


def cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """User plus system CPU seconds the process has used so far (its threads included)."""
    _, utime, stime = parse_stat((proc / str(pid) / "stat").read_text())
    return (utime + stime) / clock_ticks()


def parse_status_kb(text: str, field: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmHWM, VmRSS, ...), in bytes."""
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def status_bytes(pid: int, fields: tuple[str, ...], proc: Path = PROC) -> dict[str, int]:
    """Several ``kB`` fields of one read of /proc/<pid>/status, in bytes."""
    text = (proc / str(pid) / "status").read_text()
    return {field: parse_status_kb(text, field) for field in fields}


def peak_rss_bytes(pid: int, proc: Path = PROC) -> int:
    """VmHWM: the most resident memory the process has held since it started. It counts the
    pages of files the process maps as well as its heap: LevelDB maps its table files read-only,
    so it grows with the database (those pages are the kernel's page cache, reclaimable)."""
    return status_bytes(pid, ("VmHWM",), proc)["VmHWM"]


def rss_anon_bytes(pid: int, proc: Path = PROC) -> int:
    """RssAnon: the process's own resident memory now (heap, stacks), without mapped files."""
    return status_bytes(pid, ("RssAnon",), proc)["RssAnon"]


def child_pids(pid: int, proc: Path = PROC) -> list[int]:
    """Direct children of ``pid`` (the node's signature-verification workers), found by ppid."""
    out = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid, _, _ = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
        if ppid == pid:
            out.append(int(entry.name))
    return sorted(out)


def dir_bytes(path: Path) -> int:
    """Bytes of all regular files under ``path`` (apparent size, as an operator's ``du -b``)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # a LevelDB file compacted away meanwhile
    return total


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds of one node: its own process and its children (verification workers)."""

    at: float  # time.perf_counter() when read
    node: float
    children: float

    def minus(self, earlier: CpuSample) -> CpuSample:
        return CpuSample(self.at - earlier.at, self.node - earlier.node, self.children - earlier.children)


def sample_cpu(pid: int, proc: Path = PROC) -> CpuSample:
    """The node's and its children's CPU seconds now. A child that ends between two samples is
    not counted (its CPU would move to the node's cumulative child time, which we do not read)."""
    children = 0.0
    for child in child_pids(pid, proc):
        try:
            children += cpu_seconds(child, proc)
        except OSError:
            pass
    return CpuSample(time.perf_counter(), cpu_seconds(pid, proc), children)


def peak_rss_children(pid: int, proc: Path = PROC) -> int:
    """The largest VmHWM among the node's children (0 without children)."""
    peaks = [0]
    for child in child_pids(pid, proc):
        try:
            peaks.append(peak_rss_bytes(child, proc))
        except OSError:
            pass
    return max(peaks)


def cpu_model(proc: Path = PROC) -> str:
    try:
        for line in (proc / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_bytes(proc: Path = PROC) -> int:
    try:
        return parse_status_kb((proc / "meminfo").read_text(), "MemTotal")
    except (OSError, KeyError):
        return 0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, object]:
    """What a figure was measured on: CPU model, cores, RAM, OS, Python, load at the time."""
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count() or 1,
        "ram_bytes": ram_bytes(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": load_average(),
    }
