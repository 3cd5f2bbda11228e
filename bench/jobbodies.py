"""
What the benchmark's jobs do, shared by every system's job definitions.

- noop: nothing.
- stamp(i): append "i time.time()" to BENCH_STAMP_FILE (W3: when the job started).
- flaky(i): every fifth job fails on its first attempt (W5); a marker file in
  BENCH_MARK_DIR says whether this is its first attempt, whatever the system.
- sleepy(i): 50 ms of sleep (I/O-like); never fails.
"""

import os
import time


def stamp(i):
    line = f"{i} {time.time():.6f}\n".encode()
    fd = os.open(os.environ["BENCH_STAMP_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class FirstAttemptFailure(Exception):
    pass


def flaky(i):
    if i % 5:
        return
    try:
        fd = os.open(os.path.join(os.environ["BENCH_MARK_DIR"], str(i)), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # second attempt: succeed
    os.close(fd)
    raise FirstAttemptFailure(f"job {i}: first attempt fails")


def sleepy(i):
    time.sleep(0.05)
