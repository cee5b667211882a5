#!/usr/bin/env python3
"""pty_driver.py: drive a program through a pseudo-terminal, the way a person at a keyboard would.

usage: python3 pty_driver.py SCENARIO.json

The scenario is a JSON object:
  argv      the program and its arguments (PATH is searched)
  env       extra environment variables for it (null removes one)
  cwd       its working directory
  cols/rows the terminal's size (default 100x30)
  steps     a list of:
              {"send": "text"}                   keystrokes ("\\u0003" is Ctrl-C, "\\t" Tab)
              {"expect": "regex", "timeout": s}  wait until the screen output since the last
                                                 match matches (escape sequences and \\r removed)
              {"wait_file": path, "timeout": s}  wait until path exists (the spec creates it
                                                 once it has seen what it waits for)
              {"kill": "TERM"}                   send the program a signal
              {"resize": [cols, rows]}           resize the terminal (SIGWINCH)
              {"mark": "name"}                   remember the time (seconds since start)
              {"pause": s}                       take s seconds (a person reading before answering)
              {"close": true}                    close the terminal (the program sees a hangup)
  wait      seconds to wait for the program to exit after the last step (default 10)

It prints one JSON object: ok, error (what failed), step (its index, from 1), status or
signal (how the program ended; null if it was killed here), output (everything, cleaned),
raw (everything, as sent), marks {name: seconds}, and matches [{step, at, text}].
Only this harness sleeps: every wait is for output or an exit, bounded by a timeout.
"""
import json
import os
import pty
import re
import select
import signal
import struct
import sys
import time

try:
    import fcntl
    import termios
except ImportError:  # pragma: no cover
    fcntl = termios = None

ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def clean(raw):
    text = ESCAPES.sub(b"", raw).replace(b"\r", b"").replace(b"\x07", b"")
    return text.decode("utf-8", "replace")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        sc = json.load(f)
    env = dict(os.environ)
    for k, v in (sc.get("env") or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    t0 = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        try:
            if sc.get("cwd"):
                os.chdir(sc["cwd"])
            os.execvpe(sc["argv"][0], sc["argv"], env)
        except Exception as e:  # the child must never return into the driver
            os.write(2, ("pty_driver.py: exec failed: %s\n" % e).encode())
        os._exit(127)
    if fcntl:
        fcntl.ioctl(fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", sc.get("rows", 30), sc.get("cols", 100), 0, 0))

    raw = bytearray()
    state = {"eof": False, "pos": 0}
    result = {"ok": True, "error": None, "step": None, "status": None, "signal": None,
              "marks": {}, "matches": []}

    def pump(timeout):
        """read what the program wrote within timeout seconds; False at end of output"""
        if state["eof"]:
            return False
        r, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                data = b""
            if not data:
                state["eof"] = True
                return False
            raw.extend(data)
        return True

    def fail(i, msg):
        result["ok"] = False
        result["step"] = i
        result["error"] = msg

    for i, st in enumerate(sc.get("steps", []), 1):
        if "send" in st:
            pump(0)
            os.write(fd, st["send"].encode("utf-8"))
        elif "expect" in st:
            try:
                pat = re.compile(st["expect"], re.S)
            except re.error as e:
                fail(i, "bad pattern /%s/: %s" % (st["expect"], e))
                break
            deadline = time.monotonic() + st.get("timeout", 10)
            while True:
                text = clean(bytes(raw))
                m = pat.search(text, state["pos"])
                if m:
                    state["pos"] = m.end()
                    result["matches"].append({"step": i, "at": time.monotonic() - t0,
                                              "text": m.group(0)})
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    fail(i, "timed out waiting for /%s/ after: %r" % (st["expect"], text[state["pos"]:]))
                    break
                if not pump(min(left, 0.2)) and state["eof"]:
                    text = clean(bytes(raw))
                    if not pat.search(text, state["pos"]):
                        fail(i, "output ended before /%s/ appeared; after: %r"
                             % (st["expect"], text[state["pos"]:]))
                        break
        elif "wait_file" in st:
            deadline = time.monotonic() + st.get("timeout", 10)
            while not os.path.exists(st["wait_file"]):
                if time.monotonic() > deadline:
                    fail(i, "timed out waiting for the file %s" % st["wait_file"])
                    break
                pump(0.02)
        elif "kill" in st:
            pump(0)
            os.kill(pid, getattr(signal, "SIG" + st["kill"]))
        elif "resize" in st:
            cols, rows = st["resize"]
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.kill(pid, signal.SIGWINCH)
        elif "mark" in st:
            result["marks"][st["mark"]] = time.monotonic() - t0
        elif "pause" in st:
            deadline = time.monotonic() + st["pause"]
            while time.monotonic() < deadline:
                pump(0.02)
        elif "close" in st:
            os.close(fd)
            fd = -1
            state["eof"] = True
        if not result["ok"]:
            break

    if not result["ok"]:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + sc.get("wait", 10)
    status = None
    while True:
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            status = st
            break
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            if result["ok"]:
                fail(None, "the program did not exit within %ss" % sc.get("wait", 10))
            break
        if fd >= 0:
            pump(min(left, 0.1))
            if state["eof"]:
                time.sleep(min(left, 0.02))
        else:
            time.sleep(min(left, 0.02))
    if fd >= 0:
        while pump(0.05):
            pass
        os.close(fd)
    if status is not None:
        if os.WIFEXITED(status):
            result["status"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            result["signal"] = os.WTERMSIG(status)
    result["output"] = clean(bytes(raw))
    result["raw"] = bytes(raw).decode("utf-8", "replace")
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
