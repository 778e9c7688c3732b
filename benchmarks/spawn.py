"""Start one command (or a pipeline of them) and report each process's peak RSS.

    python -I -S benchmarks/spawn.py RESULT_FILE 'JSON {"commands": [argv, ...],
                                                       "stdout": path, "stderr": [path, ...]}'

Why a separate small process: on Linux a child's ru_maxrss starts at the peak RSS of the
process that forked it (fork copies the memory map and its high-water mark, and exec
keeps the old map's peak). Forked from the benchmark driver, which has SQLAlchemy, dlt
and pyarrow loaded, every child would report at least the driver's ~100 MB. Forked from
this interpreter (run with -I -S, importing only builtins), the floor is a few MB.

The last command's stdout goes to the "stdout" file, each command's stderr to its own
file; RESULT_FILE gets {"seconds": wall time from the first spawn to the last reap,
"rss_kb": [ru_maxrss per process], "codes": [exit code per process]}.
"""

import json
import os
import sys
import time


def main() -> None:
    result_file, spec = sys.argv[1], json.loads(sys.argv[2])
    commands = spec["commands"]
    pids = []
    started = time.perf_counter()
    read_end = None
    for i, argv in enumerate(commands):
        last = i == len(commands) - 1
        write_end = None
        if not last:
            read_next, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                if read_end is not None:
                    os.dup2(read_end, 0)
                if write_end is not None:
                    os.dup2(write_end, 1)
                else:
                    out = os.open(spec["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    os.dup2(out, 1)
                    os.close(out)
                err = os.open(spec["stderr"][i], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(err, 2)
                os.close(err)
                for fd in (read_end, write_end, None if last else read_next):
                    if fd is not None:
                        os.close(fd)
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)
        pids.append(pid)
        if read_end is not None:
            os.close(read_end)
        if write_end is not None:
            os.close(write_end)
        read_end = None if last else read_next
    rss, codes = [], []
    for pid in pids:
        _, status, usage = os.wait4(pid, 0)
        rss.append(usage.ru_maxrss)
        codes.append(os.waitstatus_to_exitcode(status))
    seconds = time.perf_counter() - started
    with open(result_file, "w") as f:
        json.dump({"seconds": seconds, "rss_kb": rss, "codes": codes}, f)


if __name__ == "__main__":
    main()
