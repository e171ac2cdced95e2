"""How busy the machine is: every bench prints this before and after its run, because the
machine is shared (other engineers' tests) and a ratio measured under load means less."""

from __future__ import annotations

import os


def load_line(when: str) -> str:
    one, five, fifteen = os.getloadavg()
    cores = os.cpu_count() or 1
    busy = "quiet" if five < cores * 0.5 else "busy" if five < cores * 2 else "saturated"
    return (
        f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} on {cores} cores "
        f"({busy}: other processes share the machine)"
    )


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory (VmHWM) in MB, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")
