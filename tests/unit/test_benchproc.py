"""The /proc readers behind the benchmark's CPU, memory and disk figures, on a fake /proc tree."""

from __future__ import annotations

import os

import pytest

from node import benchproc
from node.benchproc import CpuSample, child_pids, cpu_seconds, dir_bytes, parse_stat, parse_status_kb, peak_rss_bytes, sample_cpu


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int) -> str:
    # Fields 3.. of /proc/<pid>/stat: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt,
    # cminflt, majflt, cmajflt, utime, stime, cutime, cstime, ...
    rest = ["S", ppid, 1, 1, 0, -1, 4194560, 100, 0, 0, 0, utime, stime, 999, 999, 20, 0, 3]
    return f"{pid} ({comm}) " + " ".join(str(x) for x in rest) + "\n"


def fake_proc(tmp_path, procs):
    for pid, comm, ppid, utime, stime, hwm_kb in procs:
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "stat").write_text(stat_line(pid, comm, ppid, utime, stime))
        (d / "status").write_text(f"Name:\t{comm}\nVmPeak:\t  999999 kB\nVmHWM:\t{hwm_kb:>8} kB\nVmRSS:\t    1000 kB\nRssAnon:\t     600 kB\nRssFile:\t     400 kB\n")
    (tmp_path / "self").mkdir()  # non-numeric entries are skipped
    return tmp_path


def test_parse_stat_counts_fields_after_a_command_name_with_spaces_and_parentheses():
    assert parse_stat(stat_line(42, "python (node) x", 7, 1234, 56)) == (7, 1234, 56)


def test_cpu_seconds_is_user_plus_system_ticks_over_the_clock_rate(tmp_path, monkeypatch):
    monkeypatch.setattr(benchproc, "clock_ticks", lambda: 100)
    proc = fake_proc(tmp_path, [(10, "node", 1, 250, 50, 1)])
    assert cpu_seconds(10, proc) == pytest.approx(3.0)


def test_children_are_found_by_parent_pid_and_sampled_apart_from_the_node(tmp_path, monkeypatch):
    monkeypatch.setattr(benchproc, "clock_ticks", lambda: 100)
    proc = fake_proc(tmp_path, [(10, "node", 1, 100, 0, 80_000), (11, "worker", 10, 30, 20, 40_000),
                                (12, "worker", 10, 10, 0, 50_000), (13, "other", 1, 500, 0, 1)])
    assert child_pids(10, proc) == [11, 12]
    s = sample_cpu(10, proc)
    assert (s.node, s.children) == (pytest.approx(1.0), pytest.approx(0.6))
    assert benchproc.peak_rss_children(10, proc) == 50_000 * 1024
    assert peak_rss_bytes(10, proc) == 80_000 * 1024
    assert benchproc.rss_anon_bytes(10, proc) == 600 * 1024  # the heap alone, not the mapped files
    assert benchproc.status_bytes(10, ("VmRSS", "RssAnon", "RssFile"), proc) == {
        "VmRSS": 1000 * 1024, "RssAnon": 600 * 1024, "RssFile": 400 * 1024}


def test_a_sample_difference_is_per_field():
    d = CpuSample(12.0, 5.5, 1.25).minus(CpuSample(10.0, 5.0, 1.0))
    assert (d.at, d.node, d.children) == (2.0, 0.5, 0.25)


def test_status_field_missing_is_an_error():
    with pytest.raises(KeyError):
        parse_status_kb("Name:\tx\n", "VmHWM")


def test_dir_bytes_adds_every_file_below(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 23)
    assert dir_bytes(tmp_path) == 123


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="Linux /proc")
def test_the_real_proc_of_this_process_reads():
    pid = os.getpid()
    used = os.times()
    assert 0 < cpu_seconds(pid) <= used.user + used.system + 1
    assert peak_rss_bytes(pid) > 1 << 20
    info = benchproc.machine()
    assert isinstance(info["cpu_model"], str) and info["cores"] >= 1 and info["ram_bytes"] > 0
