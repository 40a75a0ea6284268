# SPDX-License-Identifier: MIT
"""helpers.py — what the pytest suites share: deadlines, child processes, a private daemon."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import shmbox

SCALE = float(os.environ.get("SHMBOX_TEST_TIMEOUT_SCALE", "1"))
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def scaled(seconds):
    """A deadline in seconds, longer under valgrind or the sanitizers."""
    return seconds * SCALE


def daemon_binary():
    return os.environ.get("SHMBOXD") or shutil.which("shmboxd") or "/usr/sbin/shmboxd"


def shm_objects(prefix):
    """Objects of @prefix in /dev/shm (segments, semaphores, the lock file)."""
    return sorted(f for f in os.listdir("/dev/shm") if f.startswith(prefix) or f.startswith("sem." + prefix))


class Daemon:
    """A private shmboxd, as tests/harness.c starts one: its own socket in a temporary
    directory, its own object prefix, state directory and (absent) config file."""

    counter = 0

    def __init__(self, tag="py"):
        stem = os.environ.get("SHMBOX_TEST_PREFIX") or "shmboxtpy%d" % os.getpid()
        Daemon.counter += 1
        self.prefix = ("%s_%s%d_%d" % (stem, tag, os.getpid() % 100000, Daemon.counter))[:32]
        self.dir = tempfile.mkdtemp(prefix="shmboxpy.", dir="/tmp")
        os.chmod(self.dir, 0o755)  # other users reach the socket (tests that drop root)
        self.socket = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "shmboxd.log")
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)  # the sanitizer runtime is for python, the daemon links it
        if os.environ.get("SHMBOX_DAEMON_ASAN_OPTIONS"):
            env["ASAN_OPTIONS"] = os.environ["SHMBOX_DAEMON_ASAN_OPTIONS"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [daemon_binary(), "--socket", self.socket, "--prefix", self.prefix,
                 "--state-dir", os.path.join(self.dir, "state"),
                 "--config", os.path.join(self.dir, "shmboxd.conf"), "--log-level", "debug"],
                stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + scaled(10)
        while True:
            try:
                shmbox.connect(self.socket).close()
                return self
            except shmbox.ConnectionRefused:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("shmboxd did not come up:\n" + self.read_log())
            time.sleep(0.01)

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """SIGTERM; the daemon must exit 0."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("shmboxd did not stop on SIGTERM")
            if rc != 0:
                raise RuntimeError("shmboxd exited %d:\n%s" % (rc, self.read_log()))

    def done(self):
        """Stop, remove the directory; return the objects it left in /dev/shm (removed too)."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
        left = shm_objects(self.prefix)
        for f in left:
            try:
                os.unlink(os.path.join("/dev/shm", f))
            except OSError:
                pass
        return left


class Child:
    """A Python child process running @code, with the binding and the daemon's socket in its
    environment; lines of its stdout are read with line()."""

    def __init__(self, code, *args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        # SIGINT back to its default before exec: a suite started in the background by a
        # non-interactive shell inherits it ignored, and Python then installs no
        # KeyboardInterrupt handler at all (the Ctrl-C tests would wait in vain)
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=e,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def line(self, timeout=10):
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(scaled(timeout)):
            self.proc.kill()
            raise AssertionError("the child said nothing within %s s; stderr:\n%s" %
                                 (timeout, self.proc.stderr.read()))
        return self.proc.stdout.readline().strip()

    def wait(self, timeout=10):
        try:
            out, err = self.proc.communicate(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("the child did not end within %s s; stderr:\n%s" % (timeout, err))
        return self.proc.returncode, out, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        # and its pipes: left to the garbage collector they are a ResourceWarning, an error
        # under -W error
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def as_another_user(fn):
    """Run fn() where the mailbox's owner rights do not apply: as root (whom the daemon grants
    everything), in a forked child as nobody; otherwise right here. fn() returns 0 for
    success. Returns fn()'s result (the child's exit status)."""
    if os.geteuid() != 0:
        return fn()
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = fn()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 100 + os.WTERMSIG(status)
