#!/usr/bin/env python3
"""For `make demo-threads` (tools/demo-threads.sh): samples the threads of
running Mini-Spark processes from procfs, and the master's view of its
workers' slots over text mode, until a stop file appears; then prints what
it saw.

    threads.py --master HOST:PORT --slots N --stop-file F [--ready-file F] ROLE=PID...

Per process, each thread family (a name with its number cut off: task-0 and
task-1 are `task-N`) with the file of the engine that starts it, how many
such threads were seen and at most at once, the share of samples in each
state of /proc/PID/task/TID/stat (R running, S sleeping, D disk wait), the
CPU they used (utime + stime, in clock ticks), and the kernel function they
slept in most (/proc/PID/task/TID/wchan). Then, from the master, the
attempts running on each worker against its slots, and the job's tasks
waiting for a slot. Exits 1 if an expected thread family was never seen or
a worker ever ran more attempts than it has slots.
"""

import argparse
import json
import os
import re
import socket
import sys
import time
import urllib.request
from collections import Counter, defaultdict

# What each thread family is, and which file starts it. Every name given by
# `thread::Builder::name` in src/ (comm holds at most 15 bytes).
FAMILIES = {
    "master": "the main thread: starts the others, waits for the stop (src/bin/master.rs)",
    "worker": "the main thread: starts the others, waits for the stop (src/bin/worker.rs)",
    "timer": "ticks the scheduler: heartbeat and task timeouts (src/master/mod.rs)",
    "accept": "accept(2) loop of the master's port (src/net/listener.rs)",
    "conn": "one per connection: frames, text mode or HTTP (src/net/listener.rs, src/master/mod.rs)",
    "to-peer": "writes the frames queued for one binary connection (src/net/connection.rs)",
    "wake-accept": "sleeps until the stop, then wakes the accept loop (src/net/stop.rs)",
    "master-link": "reads the master's frames, reconnects with backoff (src/worker/mod.rs)",
    "to-master": "writes the frames queued for the master (src/net/connection.rs)",
    "heartbeat": "sends a Heartbeat every --heartbeat-ms (src/worker/mod.rs)",
    "wake-session": "sleeps until the stop, then shuts the master link (src/worker/mod.rs)",
    "data-port": "accept(2) loop of the data port (src/net/listener.rs, src/worker/data_port.rs)",
    "data-conn": "one per peer connection: serves map outputs (src/worker/data_port.rs)",
    "task-N": "a pool slot: runs one attempt at a time (src/worker/pool.rs)",
    "fetch-N": "fetches map outputs for a reduce task, --fetches at once (src/storage/shuffle.rs)",
    "pipe-feeder": "writes a split's lines into pipe()'s child (src/exec/pipe.rs)",
    "pipe-stderr": "drains pipe()'s child's stderr (src/exec/pipe.rs)",
    "pipe-watchdog": "kills pipe()'s process group on cancel (src/exec/pipe.rs)",
    "tee": "one per extra output of a shared scan (src/exec/executor.rs)",
    "crash": "fault injection: exits mid-attempt (src/worker/attempts.rs)",
}
EXPECTED = {
    "master": ["master", "timer", "accept", "conn", "to-peer", "wake-accept"],
    "worker": ["worker", "master-link", "to-master", "heartbeat", "data-port", "task-N",
               "fetch-N", "pipe-feeder", "pipe-stderr", "pipe-watchdog"],
}
# The threads that start others while a job runs, one per process (per
# name, for the pool's).
SINGLE = {"master", "worker", "accept", "data-port", "master-link", "task-N"}
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def family(name):
    return re.sub(r"-\d+$", "-N", name)


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:  # the thread ended between listing and reading
        return None


def sample_threads(pid):
    """{tid: (comm, state, cpu ticks, wchan)} of one process now."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        comm, stat, wchan = read(f"{base}/comm"), read(f"{base}/stat"), read(f"{base}/wchan")
        if comm is None or stat is None:
            continue
        # The fields after the command's closing parenthesis: the command
        # itself may hold spaces (see src/worker/procstat.rs).
        fields = stat[stat.rfind(")") + 2:].split()
        state, utime, stime = fields[0], int(fields[11]), int(fields[12])
        out[int(tid)] = (comm, state, utime + stime, wchan or "-")
    return out


def text_mode(addr, command):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"{command}\nQUIT\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode(errors="replace").splitlines()


def field(line, key):
    m = re.search(rf"\b{key}=(\S+)", line)
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--master", required=True)
    ap.add_argument("--slots", type=int, required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--ready-file", help="created once sampling has started")
    ap.add_argument("--interval-ms", type=float, default=10)
    ap.add_argument("procs", nargs="+", help="ROLE=PID")
    args = ap.parse_args()
    procs = [(role, int(pid)) for role, pid in (p.split("=") for p in args.procs)]

    # seen[role][tid] = the samples of that thread: (sample number, comm,
    # state, cpu ticks, wchan)
    seen = {role: defaultdict(list) for role, _ in procs}
    slots_rows = []  # (ms, {worker id: running}, queued)
    samples, t0, last_poll = 0, time.monotonic(), 0.0
    while not os.path.exists(args.stop_file):
        if samples == 1 and args.ready_file:
            open(args.ready_file, "w").close()
        for role, pid in procs:
            for tid, s in sample_threads(pid).items():
                seen[role][tid].append((samples,) + s)
        samples += 1
        t = time.monotonic()
        if t - last_poll > 0.05:
            last_poll = t
            try:
                workers = {field(l, "id"): int(field(l, "running"))
                           for l in text_mode(args.master, "WORKERS") if l.startswith("id=")}
                jobs = [l for l in text_mode(args.master, "JOBS") if "state=RUNNING" in l]
                queued = 0
                for j in jobs:
                    done, total = map(int, field(j, "tasks").split("/"))
                    queued += total - done
                queued -= sum(workers.values())
                if jobs:
                    slots_rows.append((int((t - t0) * 1000), workers, max(queued, 0)))
            except (OSError, ValueError, TypeError):
                pass
        time.sleep(args.interval_ms / 1000)
    elapsed = time.monotonic() - t0

    # A family is expected in the master, and in at least one worker (a
    # short-lived one, such as a fetcher, may fall between two samples).
    missing, in_workers = [], set()
    for role, pid in procs:
        kind = "master" if role == "master" else "worker"
        print(f"\n== threads of the {role} (pid {pid}): {samples} samples over {elapsed:.1f} s")
        print(f"   {'thread':<14}{'seen':>5}{'at once':>8}  {'states':<22}{'CPU ms':>7}  "
              f"{'sleeps in':<18}what it is")
        # A new thread runs under its creator's name until std's thread
        # start renames it (prctl PR_SET_NAME), so a thread's family is its
        # last name seen.
        # A thread of which a process has one (per name: task-0, task-1)
        # is started before any sample, so a second thread of that name is
        # one it has just started (a fetcher, a pipe feeder, a connection's
        # thread) caught before its rename: left out, and counted.
        fams, live, first_tid = defaultdict(list), Counter(), {}
        for tid in sorted(seen[role]):
            first_tid.setdefault(seen[role][tid][-1][1], tid)
        newborn = 0
        for tid, ss in seen[role].items():
            name = ss[-1][1]
            if family(name) in SINGLE and first_tid[name] != tid:
                newborn += 1
                continue
            fam = family(ss[-1][1])
            fams[fam].append([s[1:] for s in ss])
            live.update((fam, s[0]) for s in ss)
        at_once = Counter()
        for (fam, _), n in live.items():
            at_once[fam] = max(at_once[fam], n)
        for fam in sorted(fams, key=lambda f: (f not in (kind,), f)):
            threads = fams[fam]
            states = Counter(s[1] for ss in threads for s in ss)
            total = sum(states.values())
            shares = " ".join(f"{st} {100 * n // total}%" for st, n in states.most_common(3))
            cpu = sum(ss[-1][2] - ss[0][2] for ss in threads) * 1000 // TICKS_PER_S
            wchan = Counter(s[3] for ss in threads for s in ss if s[1] != "R").most_common(1)
            print(f"   {fam:<14}{len(threads):>5}{at_once[fam]:>8}  {shares:<22}{cpu:>7}  "
                  f"{(wchan[0][0] if wchan else '(running)'):<18}{FAMILIES.get(fam, '?')}")
        if kind == "worker":
            in_workers |= set(fams)
        elif any(fam not in fams for fam in EXPECTED["master"]):
            missing += [f"master: {f}" for f in EXPECTED["master"] if f not in fams]
        if newborn:
            print(f"   (and {newborn} new thread(s) caught before they took their own name)")
        tasks = at_once.get("task-N")
        if kind == "worker":
            print(f"   the pool: {tasks} task threads at most at once, for --slots {args.slots} "
                  "(a fixed pool: no thread is started per task)")
            if tasks != args.slots:
                missing.append(f"{role}: {tasks} task threads, not {args.slots}")

    missing += [f"workers: {f}" for f in EXPECTED["worker"] if f not in in_workers]

    print("\n== the pool's bound, seen from the master (text mode WORKERS and JOBS, every 50 ms):")
    print("   attempts running on each worker never pass its slots; the job's other tasks wait at the master")
    over = False
    ids = sorted({w for _, ws, _ in slots_rows for w in ws})
    print(f"   {'ms':>6}  " + "  ".join(f"worker {w} running/slots" for w in ids) + "  tasks not running (waiting for a slot or for their stage)")
    step = max(1, len(slots_rows) // 16)
    for i, (ms, ws, queued) in enumerate(slots_rows):
        over |= any(n > args.slots for n in ws.values())
        if i % step == 0 or i == len(slots_rows) - 1:
            cols = "  ".join(f"{ws.get(w, 0):>14}/{args.slots:<7}" for w in ids)
            print(f"   {ms:>6}  {cols}  {queued:>5}  {'#' * queued}")
    full = sum(1 for _, ws, q in slots_rows if q > 0 and all(n == args.slots for n in ws.values()))
    print(f"   samples with every slot busy and tasks waiting: {full} of {len(slots_rows)}")

    # The worker's own count: each heartbeat carries how many of the pool's
    # semaphore permits are taken (ThreadPool::busy, src/worker/pool.rs).
    print("\n== the semaphore, seen from inside each worker: permits taken at each heartbeat"
          " (/api/v1/workers/ID samples)")
    for w in ids:
        try:
            with urllib.request.urlopen(f"http://{args.master}/api/v1/workers/{w}", timeout=5) as r:
                beats = [s["running"] for s in json.load(r)["samples"]]
        except (OSError, ValueError, KeyError) as e:
            print(f"   worker {w}: cannot read its samples: {e}")
            continue
        over |= any(n > args.slots for n in beats)
        print(f"   worker {w}: {' '.join(map(str, beats[-40:]))}   (max {max(beats, default=0)}, "
              f"slots {args.slots})")
    if not slots_rows:
        missing.append("no sample of the master's workers while the job ran")
    if over:
        missing.append(f"a worker ran more than {args.slots} attempts at once")
    if missing:
        print("\ndemo-threads: " + "; ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
