"""CPU use over the measured window, from /proc (Linux; elsewhere it is left out).

Per-CPU busy shares come from /proc/stat; a server process's share of one core from
/proc/<pid>/stat (utime + stime). With the server pinned to one CPU and `roost bench
--cpu` on the other, the per-CPU numbers say whether the server's core was saturated
while the generator's was not.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class CpuSnapshot:
    at: float  # time.monotonic()
    per_cpu: dict[str, tuple[int, int]]  # name -> (busy ticks, total ticks)
    server_ticks: int | None  # utime + stime of the server process


def _read_proc_stat() -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        if not line.startswith("cpu"):
            continue
        name, *fields = line.split()
        values = [int(v) for v in fields[:8]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        total = sum(values)
        out[name] = (total - idle, total)
    return out


def _read_pid_ticks(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return int(fields[11]) + int(fields[12])


def snapshot(server_pid: int | None = None) -> CpuSnapshot:
    return CpuSnapshot(time.monotonic(), _read_proc_stat(), _read_pid_ticks(server_pid))


def usage(start: CpuSnapshot | None, end: CpuSnapshot | None) -> dict[str, Any]:
    """Busy % per CPU (and of the server process, as % of one core) between snapshots."""
    if start is None or end is None:
        return {}
    per_cpu: dict[str, float] = {}
    for name, (busy1, total1) in end.per_cpu.items():
        busy0, total0 = start.per_cpu.get(name, (busy1, total1))
        if total1 > total0:
            per_cpu[name] = round(100.0 * (busy1 - busy0) / (total1 - total0), 1)
    out: dict[str, Any] = {"per_cpu_busy_percent": per_cpu}
    if start.server_ticks is not None and end.server_ticks is not None and end.at > start.at:
        hertz = os.sysconf("SC_CLK_TCK")
        seconds = (end.server_ticks - start.server_ticks) / hertz
        out["server_process_percent_of_one_core"] = round(100.0 * seconds / (end.at - start.at), 1)
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
