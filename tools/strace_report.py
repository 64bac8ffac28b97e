#!/usr/bin/env python3
"""For `make demo-trace` (tools/demo-trace.sh): reads the output of
`strace -f -tt -T -yy` for each process of a small cluster and prints, per
process, the system calls it made, with counts and time, grouped by what
they are for, each group naming the files of the engine that issue them;
then replays a few annotated lines of one reduce task's life.

    strace_report.py [--data-port ROLE=HOST:PORT]... ROLE=TRACE_FILE...

A trace file holds one process started under strace and everything it
started: threads (clone3 with CLONE_THREAD) belong to their process, a
child process (clone3 with CLONE_VFORK, then execve: `pipe()`'s `sh`) gets
a table of its own. With -yy, strace names what each file descriptor is
(a path, TCP:[a->b], pipe:[n]), so a `read` on a socket counts as network
and a `read` on a file as files. Exits 1 if a table is empty or a step of
the replay is missing.
"""

import re
import sys
from collections import Counter, defaultdict

# The groups, and the system calls in each.
GROUPS = [
    ("network", {"accept", "accept4", "connect", "socket", "bind", "listen", "recvfrom",
                 "recvmsg", "sendto", "sendmsg", "shutdown", "setsockopt", "getsockopt",
                 "getsockname", "getpeername", "poll", "ppoll", "socketpair"}),
    ("files", {"openat", "open", "pread64", "pwrite64", "lseek", "fsync", "fdatasync", "linkat",
               "link", "renameat", "renameat2", "rename", "unlink", "unlinkat", "mkdir",
               "mkdirat", "rmdir", "statx", "newfstatat", "fstat", "stat", "lstat",
               "getdents64", "ftruncate", "fcntl", "flock", "readlink", "readlinkat", "access",
               "faccessat", "faccessat2", "getcwd", "chdir", "ioctl", "fadvise64",
               "copy_file_range", "sendfile"}),
    ("processes", {"clone3", "clone", "vfork", "fork", "execve", "wait4", "waitid", "kill",
                   "tgkill", "exit", "exit_group", "pipe2", "pipe", "dup2", "dup3", "getpid",
                   "getppid", "gettid", "prctl", "set_robust_list", "rseq", "set_tid_address",
                   "sched_getaffinity", "prlimit64", "rt_sigaction", "rt_sigprocmask",
                   "sigaltstack", "rt_sigreturn", "arch_prctl", "setpgid", "getuid", "geteuid",
                   "getgid", "getegid", "uname", "sysinfo", "getrandom"}),
    ("synchronisation", {"futex", "sched_yield"}),
    ("memory", {"mmap", "munmap", "mprotect", "brk", "madvise", "mremap"}),
    ("time", {"clock_nanosleep", "nanosleep", "clock_gettime"}),
]
# The calls the issue names: shown in a table whenever they occur, even
# below the eight most frequent of their group.
NAMED = {"accept4", "recvfrom", "read (socket)", "sendto", "write (socket)", "shutdown",
         "connect", "openat", "pread64", "fsync", "fdatasync", "linkat", "rename", "renameat",
         "unlink", "unlinkat", "clone3", "clone", "pipe2", "execve", "wait4", "kill",
         "read (pipe)", "write (pipe)", "futex", "mmap", "brk", "madvise"}
# Which files of the engine issue each group's calls, per kind of process
# (found by reading them: grep for the std call that makes the syscall).
ISSUERS = {
    "master": {
        "network": "src/net/listener.rs (accept4, shutdown), src/net/connection.rs (frames: "
                   "recvfrom, sendto), src/master/mod.rs (peeks at the first bytes), "
                   "src/master/web.rs, src/master/text_mode.rs, src/net/keepalive.rs (setsockopt)",
        "files": "src/master/journal.rs (write, fdatasync, fsync of the directory, rename when "
                 "compacted), src/master/eventlog.rs (O_APPEND writes, mkdir)",
        "processes": "a thread per connection (src/net/listener.rs) and its writer "
                     "(src/net/connection.rs): clone3 CLONE_THREAD, prctl names it",
        "synchronisation": "the master's state lock (src/master/session.rs, "
                           "src/master/scheduler/), the outboxes' mpsc channels "
                           "(src/net/connection.rs), src/net/semaphore.rs (the connection cap)",
        "memory": "the allocator; thread stacks; src/trim.rs (malloc_trim: madvise; the master on a timer, a worker after each task)",
        "time": "",
    },
    "worker": {
        "network": "src/net/dial.rs (socket, connect), src/net/connection.rs (frames to and "
                   "from the master), src/storage/shuffle.rs (fetches), src/worker/data_port.rs "
                   "and src/net/listener.rs (serving them: accept4, sendto, shutdown)",
        "files": "src/exec/split.rs (open, lseek, read the input splits), src/storage/shuffle.rs "
                 "(map output data and index), src/storage/spill.rs + src/storage/runfile.rs "
                 "(run files, unlink), src/exec/executor.rs (part files: write, fsync; "
                 "_SUCCESS by rename), src/worker/attempts.rs (commit by linkat, rmdir), "
                 "src/worker/procstat.rs (/proc/self/stat)",
        "processes": "src/exec/pipe.rs (clone3 CLONE_VFORK + execve of sh, pipe2, wait4, kill "
                     "of the group; read/write on the pipes); threads of src/worker/pool.rs, "
                     "src/storage/shuffle.rs, src/exec/pipe.rs (clone3 CLONE_THREAD, prctl)",
        "synchronisation": "src/net/semaphore.rs (the pool's permits: Mutex + Condvar), the "
                           "mpsc channels of src/worker/pool.rs (the job queue), "
                           "src/storage/shuffle.rs (fetched blocks), src/net/connection.rs",
        "memory": "the allocator under the record buffers of src/storage/aggregate/, "
                  "src/storage/sort.rs, src/record.rs; 2 MiB thread stacks (mmap, mprotect)",
        "time": "src/exec/pipe.rs (the watchdog's sleep)",
    },
    "client": {
        "network": "src/net/dial.rs (socket, connect), src/net/connection.rs (frames)",
        "files": "src/submission.rs (reads the job, lists and measures the inputs), "
                 "src/terminal.rs (ioctl: is stderr a terminal, how wide)",
        "processes": "", "synchronisation": "", "memory": "the allocator", "time": "",
    },
    "child": {group: "" for group, _ in GROUPS},
}
ISSUERS["child"]["processes"] = ("not the engine: the job's command; its stdin and stdout are "
                                 "the pipes src/exec/pipe.rs made (read/write on pipe:[...])")
GROUP_OF = {name: g for g, names in GROUPS for name in names}
FD_CALLS = {"read", "write", "close", "readv", "writev", "fstat", "fcntl", "lseek"}

# strace pads the pid to a column: `1347  00:30:23...`, `31825 00:30:23...`.
LINE = re.compile(r"^(\d+) +(\d\d:\d\d:\d\d\.\d+) (.*)$")
CALL = re.compile(r"^([a-z0-9_]+)\((.*)")
RESUMED = re.compile(r"^<\.\.\. ([a-z0-9_]+) resumed>(.*)")
ELAPSED = re.compile(r"<(\d+\.\d+)>$")
RESULT = re.compile(r"\) += (-?\w+)")
FD_KIND = re.compile(r"^\d+<([^>]*)>")


class Call:
    def __init__(self, tid, time, name, args):
        self.tid, self.time, self.name, self.args = tid, time, name, args
        self.result, self.elapsed, self.text = None, 0.0, args

    def finish(self, rest):
        self.text = self.text.removesuffix(" <unfinished ...>") + rest
        m = ELAPSED.search(self.text)
        self.elapsed = float(m.group(1)) if m else 0.0
        m = RESULT.search(self.text)
        self.result = m.group(1) if m else None

    def kind(self):
        """The call's group; read/write/close by what the descriptor is."""
        if self.name in FD_CALLS:
            m = FD_KIND.match(self.args)
            what = m.group(1) if m else ""
            if what.startswith(("TCP", "UDP", "socket:", "UNIX", "TCPv6")):
                return "network"
            if what.startswith("pipe:"):
                return "processes"
            if self.name in ("read", "write", "close", "readv", "writev"):
                return "files"
        return GROUP_OF.get(self.name, "other")

    def label(self):
        if self.name in ("read", "write", "close") and self.kind() != "files":
            return f"{self.name} ({'socket' if self.kind() == 'network' else 'pipe'})"
        return self.name


def parse(path):
    """Every call of the trace, in order, and the tid -> parent, thread flag."""
    calls, pending = [], {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            tid, time, rest = int(m.group(1)), m.group(2), m.group(3)
            r = RESUMED.match(rest)
            if r:
                call = pending.pop(tid, None) or Call(tid, time, r.group(1), "")
                call.finish(r.group(2))
                continue
            c = CALL.match(rest)
            if not c:  # signals (---) and exits (+++)
                continue
            call = Call(tid, time, c.group(1), c.group(2))
            calls.append(call)
            if rest.endswith("<unfinished ...>"):
                pending[tid] = call
            else:
                call.finish("")
    return calls


def processes(calls):
    """Splits the calls by process: {pid: [calls]}, {pid: program}, {tid: name}."""
    first = calls[0].tid
    owner, parent_of = {first: first}, {}
    program, thread_name = {}, {}
    for c in calls:
        pid = owner.setdefault(c.tid, c.tid)
        if c.name in ("clone3", "clone", "vfork", "fork") and c.result and c.result.isdigit():
            child = int(c.result)
            if "CLONE_THREAD" in c.args:
                owner[child] = pid
            else:
                owner[child] = child
                parent_of[child] = pid
        elif c.name == "execve" and c.result == "0":
            argv = re.search(r"\[(.*?)\]", c.args)
            program[pid] = argv.group(1).replace('", "', " ").strip('"') if argv else "?"
        elif c.name == "prctl" and "PR_SET_NAME" in c.args:
            name = re.search(r'PR_SET_NAME, "([^"]*)"', c.args)
            if name:
                thread_name[c.tid] = name.group(1)
    by_pid = defaultdict(list)
    for c in calls:
        by_pid[owner.get(c.tid, c.tid)].append(c)
    return by_pid, program, thread_name, parent_of


def table(title, calls, threads, kind):
    """Prints one process's calls by group; returns how many there were."""
    print(f"\n== {title}: {len(calls)} system calls in {threads} thread(s)")
    if not calls:
        return 0
    by_group = defaultdict(Counter)
    time_of = defaultdict(float)
    for c in calls:
        by_group[c.kind()][c.label()] += 1
        time_of[(c.kind(), c.label())] += c.elapsed
    print(f"   {'':<16}{'system call':<20}{'calls':>7}{'time ms':>10}")
    for group in [g for g, _ in GROUPS] + ["other"]:
        if group not in by_group:
            continue
        counts = by_group[group]
        total = sum(counts.values())
        ms = sum(time_of[(group, n)] for n in counts) * 1000
        print(f"   {group:<16}{'(all)':<20}{total:>7}{ms:>10.1f}")
        if ISSUERS[kind].get(group):
            print(f"   {'':<16}issued by: {ISSUERS[kind][group]}")
        top = counts.most_common(6)
        shown = top + [(n, k) for n, k in counts.most_common() if n in NAMED and (n, k) not in top]
        for name, n in shown:
            print(f"   {'':<16}{name:<20}{n:>7}{time_of[(group, name)] * 1000:>10.1f}")
        if len(counts) > len(shown):
            rest = len(counts) - len(shown)
            print(f"   {'':<16}({rest} more kinds, {total - sum(n for _, n in shown)} calls)")
    return len(calls)


def short(call):
    """The call as strace printed it, with data (a string holding escapes)
    cut to 24 characters; paths are kept whole."""
    def cut(m):
        body = m.group(1)
        if "\\" not in body:
            return m.group(0)
        return '"' + body[:24] + '"...'
    return re.sub(r'"((?:[^"\\]|\\.)*)"(?:\.\.\.)?', cut, f"{call.name}({call.text}")


def replay(workers, master_calls, data_ports):
    """The life of one reduce task that spilled, on the worker that ran it."""
    print("\n== one reduce task's life, replayed from the traces (time, thread, call)")
    for role, (calls, names) in workers.items():
        runs = [c for c in calls if c.name == "openat" and "/run-" in c.args and "O_CREAT" in c.args]
        links = [c for c in calls if c.name == "linkat"]
        attempts = {re.search(r"spill-attempt-(\d+)/", c.args).group(1): c for c in runs
                    if re.search(r"spill-attempt-(\d+)/", c.args)}
        chosen = [(a, c) for a, c in attempts.items()
                  if any(f"/attempt-{a}/part-" in l.args for l in links)]
        if not chosen:
            continue
        attempt, run = chosen[0]
        task = run.tid
        tname = lambda c: names.get(c.tid, str(c.tid))
        # Its fetchers: the threads it started before it spilled.
        kids = {int(c.result) for c in calls if c.tid == task and c.name == "clone3"
                and c.result and c.result.isdigit() and c.time <= run.time}
        peers = {addr.rsplit(":", 1)[1] for r, addr in data_ports.items() if r != role}
        fetch = [c for c in calls if c.tid in kids and c.name == "connect"
                 and any(f"htons({p})" in c.args for p in peers)]
        steps = []
        if fetch:
            f = fetch[-1]
            after = [c for c in calls if c.tid == f.tid and c.time >= f.time]
            send = next((c for c in after if c.name in ("sendto", "write")), None)
            recv = next((c for c in after if c.name in ("recvfrom", "read")
                         and c.result not in (None, "0") and not c.result.startswith("-")), None)
            steps += [("the fetch: a fetcher thread of the task connects to the other worker's "
                       "data port (src/storage/shuffle.rs)", f),
                      ("sends a FetchShuffle frame (magic \\247S = A7 53, type 0x42)", send),
                      ("and reads the DataChunk frames of its partition back (type 0x41)", recv)]
        else:
            steps.append(("the fetch: no connection to a peer in this task", None))
        write = next((c for c in calls if c.tid == task and c.name == "write"
                      and c.time >= run.time and "/run-" in c.args), None)
        steps += [("the spill: the task's table passed its share of --memory; it is written "
                   "sorted to a new run file, O_EXCL so nothing is overwritten "
                   "(src/storage/spill.rs)", run),
                  ("its records, in CRC-checked blocks (src/storage/runfile.rs)", write)]
        part = [c for c in calls if f"/attempt-{attempt}/part-" in c.args]
        for what, name in (("the output is written aside, under _temporary/attempt-N/ "
                            "(src/exec/executor.rs)", "openat"),
                           ("and forced to the disk before the task reports done", "fsync")):
            steps.append((what, next((c for c in part if c.name == name), None)))
        link = next(l for l in links if f"/attempt-{attempt}/part-" in l.args)
        steps.append(("the atomic commit: told by the master, the worker links the part to "
                      "its final name; link(2) fails rather than replace one another attempt "
                      "committed (src/worker/attempts.rs)", link))
        journal = [c for c in master_calls if c.name in ("fdatasync", "fsync")
                   and "journal>" in c.args and c.time >= link.time]
        appended = [c for c in master_calls if c.name == "write" and "journal>" in c.args
                    and journal and c.time <= journal[0].time and c.time >= link.time]
        if appended:
            steps.append(("the master appends the job's end to its journal: length, CRC, "
                          "entry (src/master/journal.rs)", appended[-1]))
        steps.append(("and fdatasyncs it: the end of the job is on the disk before the client "
                      "hears of it, so a master killed now still knows", journal[0] if journal else None))
        print(f"   {role}, attempt {attempt} (task thread {tname(run)})")
        missing = 0
        for what, c in steps:
            print(f"\n   # {what}")
            if c is None:
                print("   (not in the trace)")
                missing += 1
            else:
                who = "master" if c in master_calls else f"{role} {tname(c)}"
                print(f"   {c.time} [{who}] {short(c)}")
        return missing
    print("   no reduce task that spilled and committed was found in the worker traces")
    return 1


def main():
    data_ports, traces = {}, []
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--data-port":
            role, addr = args.pop(0).split("=", 1)
            data_ports[role] = addr
        else:
            traces.append(a.split("=", 1))
    empty, workers, master_calls = [], {}, []
    for role, path in traces:
        calls = parse(path)
        if not calls:
            empty.append(role)
            continue
        by_pid, program, names, parent_of = processes(calls)
        main_pid = calls[0].tid
        tids = {c.tid for c in by_pid[main_pid]}
        prog = program.get(main_pid, "?")
        kind = re.sub(r"\d+$", "", role)
        if table(f"{role} (pid {main_pid}: {prog})", by_pid[main_pid], len(tids), kind) == 0:
            empty.append(role)
        children = [p for p in by_pid if p != main_pid]
        if children:
            progs = Counter(program.get(p, "?").split(" ")[0] for p in children)
            print(f"\n   {role} started {len(children)} child process(es): "
                  + ", ".join(f"{n} x {p}" for p, n in progs.items()))
            # The first pipe() child, and the processes it started in turn.
            first = children[0]
            family = [first] + [p for p in children if parent_of.get(p) == first]
            for p in family:
                t = {c.tid for c in by_pid[p]}
                table(f"a pipe child of {role} (pid {p}: {program.get(p, '?')})", by_pid[p], len(t),
                      "child")
        if role == "master":
            master_calls = calls
        elif role.startswith("worker"):
            workers[role] = (calls, names)
    print("\n   time is wall time inside the call (-T): for accept4, recvfrom, futex and wait4")
    print("   it is mostly time asleep, waiting for a peer, a lock, a condition or a child")
    missing = replay(workers, master_calls, data_ports)
    if empty:
        print(f"strace_report: no system calls traced for {', '.join(empty)}", file=sys.stderr)
    if missing:
        print(f"strace_report: {missing} step(s) of the replay not found", file=sys.stderr)
    return 1 if empty or missing else 0


if __name__ == "__main__":
    sys.exit(main())
