"""Run a function over many inputs in forked worker processes, results in input order.

Why fork and not multiprocessing's pools: the function and everything it reads (parsed
settings, the resolver, a loaded schema) are simply inherited by the workers, nothing
is pickled on the way in, and there is no import cost on the way to a one-file run.
Results are pickled on the way back, in batches.

Work is handed out on demand, in input order: the parent writes tickets (the first
input of a small run of inputs) into a pipe that every worker reads from, so a worker
that got cheap inputs takes more, whatever pattern the inputs follow (a repository of
`deployment.yaml` / `service.yaml` pairs must not load one worker with every
Deployment). A worker stops at its first exception and reports it; since tickets go
out in order, every input before the first failure (in input order) is done by someone,
and the caller sees all results up to it whatever the timing. Where fork is not
available, or for one worker, the inputs are run in this process, the same way.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import pickle
import select
import selectors
import signal
import struct
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from meshrender.errors import MeshrenderError

_HEADER = struct.Struct("!Q")
_TICKET = struct.Struct("!I")
BATCH_ITEMS = 16
BATCH_BYTES = 256 * 1024


class Failure:
    """The first exception a worker met, at input `index`, in a form that crosses processes."""

    def __init__(self, index: int, error: BaseException):
        self.index = index
        self.error = error


class WorkerDied(RuntimeError):
    """A worker process ended without reporting (killed, out of memory, a crash in C)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker (shown as the cause)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


class _Unpicklable(Exception):
    """An exception that does not pickle, on its way to the parent: its type name,
    message and traceback."""

    def rebuild(self) -> BaseException:
        name, message, tb = self.args
        error = type(name, (Exception,), {})(message)
        error.__cause__ = RemoteTraceback(tb)
        return error


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform != "darwin"


def _portable(error: BaseException) -> BaseException:
    """`error` as it can be rebuilt in the parent: the project's own exceptions as they
    are (they pickle with their fields), anything else (a bug: ValueError, KeyError...)
    as a stand-in of the same type name and message, with the worker's traceback."""
    if type(error).__module__ != "builtins":
        with contextlib.suppress(Exception):
            pickle.loads(pickle.dumps(error))
            return error
    return _Unpicklable(type(error).__name__, str(error), "".join(traceback.format_exception(error)))


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


_HELD_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}

# What a worker does before it exits (os._exit runs no atexit handlers): see at_worker_exit.
_AT_WORKER_EXIT: list[Callable[[], None]] = []


@contextlib.contextmanager
def at_worker_exit(hook: Callable[[], None]) -> Iterator[None]:
    """Within this block, every worker ordered_map forks calls `hook` when it is done
    (the result cache writes the entries it holds)."""
    _AT_WORKER_EXIT.append(hook)
    try:
        yield
    finally:
        _AT_WORKER_EXIT.remove(hook)


def _worker(fn: Callable[[int], Any], count: int, run: int, tickets: int, fd: int) -> None:
    batch: list[tuple[int, Any]] = []
    size = 0
    while True:
        ticket = os.read(tickets, _TICKET.size)  # whole tickets: pipe reads this small are atomic
        if not ticket:
            break
        (first,) = _TICKET.unpack(ticket)
        for i in range(first, min(first + run, count)):
            try:
                result = fn(i)
            except BaseException as e:
                if batch:
                    _send(fd, batch)
                _send(fd, Failure(i, _portable(e)))
                return
            batch.append((i, result))
            size += len(result) if isinstance(result, (bytes, str)) else 1024
            if len(batch) >= BATCH_ITEMS or size >= BATCH_BYTES:
                _send(fd, batch)
                batch, size = [], 0
    if batch:
        _send(fd, batch)


class _Tickets:
    """The write end of the ticket pipe, fed as the workers drain it."""

    def __init__(self, fd: int, tickets: list[bytes]):
        self.fd = fd
        self.data = b"".join(tickets)
        os.set_blocking(fd, False)

    def feed(self) -> bool:
        """Write what the pipe takes; True when every ticket is written."""
        try:  # at most PIPE_BUF bytes: written whole or not at all, so tickets stay whole
            n = os.write(self.fd, self.data[:select.PIPE_BUF])
        except BlockingIOError:
            return False
        self.data = self.data[n:]
        return not self.data

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Reader:
    """One worker: its pid, and the length-prefixed pickles arriving on its pipe."""

    def __init__(self, pid: int, fd: int):
        self.pid, self.fd = pid, fd
        self.buf = bytearray()
        self.status: int | None = None  # wait status, once reaped

    @property
    def open(self) -> bool:
        return self.fd >= 0

    def read(self) -> list[Any]:
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            self.close()
            return []
        self.buf += chunk
        out = []
        while len(self.buf) >= _HEADER.size:
            (n,) = _HEADER.unpack_from(self.buf)
            if len(self.buf) < _HEADER.size + n:
                break
            out.append(pickle.loads(self.buf[_HEADER.size:_HEADER.size + n]))
            del self.buf[:_HEADER.size + n]
        return out

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def reap(self, kill: bool = False) -> None:
        if self.status is not None:
            return
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        try:
            _, self.status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            self.status = 0

    def describe(self) -> str:
        self.reap()
        if self.status and os.WIFSIGNALED(self.status):
            return f"was killed by signal {os.WTERMSIG(self.status)}"
        return f"exited with status {os.waitstatus_to_exitcode(self.status or 0)}"


def _fork(body: Callable[[], None], close: list[int]) -> int:
    """Fork a worker that closes `close` (the caller's ends of its pipes), runs `body`
    and exits; the worker's pid. The worker never returns into the caller, whatever
    happens in it (os._exit after the at_worker_exit hooks)."""
    # Signals wait until the worker is inside its try: one that arrived between fork()
    # and the try (the parent ending its workers right away) would raise in the worker's
    # copy of the caller, which would then run on as a second caller.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    if pid == 0:
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            for fd in close:
                os.close(fd)
            body()
        except BaseException:
            code = 1
        finally:
            for hook in _AT_WORKER_EXIT:
                with contextlib.suppress(BaseException):
                    hook()
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return pid


def ordered_map(fn: Callable[[int], Any], count: int, workers: int) -> Iterator[tuple[int, Any]]:
    """Yield (i, fn(i)) for i in range(count), in order, computed by up to `workers`
    forked processes, until the first input (in order) whose fn raised: that one is
    yielded as (i, Failure) and ends the iteration. Closing the iterator early ends the
    workers."""
    workers = max(1, min(workers, count))
    if workers == 1 or not can_fork():
        for i in range(count):
            try:
                result = fn(i)
            except Exception as e:
                if isinstance(e, MeshrenderError):
                    # Bad input needs no traceback, and its frames would keep what the call
                    # held (a whole file's documents) alive while the caller reads on.
                    e = e.with_traceback(None)
                yield i, Failure(i, e)
                return
            yield i, result
        return
    run = max(1, min(8, count // (workers * 32)))  # inputs per ticket: enough tickets to balance
    tickets = [_TICKET.pack(first) for first in range(0, count, run)]
    readers: list[_Reader] = []
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # what the workers inherit is never scanned by their collector (nor copied for it)
    ticket_r, ticket_w = os.pipe()
    feeder = None
    caller = os.getpid()
    try:
        for _ in range(workers):
            r, wfd = os.pipe()
            pid = _fork(functools.partial(_worker, fn, count, run, ticket_r, wfd),
                        close=[r, ticket_w, *(other.fd for other in readers)])
            os.close(wfd)
            readers.append(_Reader(pid, r))
        os.close(ticket_r)
        ticket_r = -1
        feeder = _Tickets(ticket_w, tickets)
        yield from _collect(readers, count, feeder)
    finally:
        if os.getpid() == caller:
            if feeder is not None:
                feeder.close()
            else:
                os.close(ticket_w)
            if ticket_r >= 0:
                os.close(ticket_r)
            for rd in readers:
                rd.close()
                rd.reap(kill=True)
            gc.unfreeze()
        elif not isinstance(sys.exc_info()[1], GeneratorExit):
            # Not the process that started these workers. A worker of a later run closing
            # this generator as garbage has nothing to do (the workers and pipes are the
            # caller's); a worker unwinding into its copy of the caller (never) must stop
            # rather than run on as a second caller.
            with contextlib.suppress(BaseException):
                os.write(2, b"meshrender: internal error: a worker process left its work; it stops\n")
            os._exit(70)


def _collect(readers: list[_Reader], count: int, feeder: _Tickets) -> Iterator[tuple[int, Any]]:
    pending: dict[int, Any] = {}
    sel = selectors.DefaultSelector()
    for rd in readers:
        sel.register(rd.fd, selectors.EVENT_READ, rd)
    sel.register(feeder.fd, selectors.EVENT_WRITE, None)
    nxt = 0
    try:
        while True:
            while nxt < count and nxt in pending:
                item = pending.pop(nxt)
                yield nxt, item
                if isinstance(item, Failure):
                    return
                nxt += 1
            if nxt >= count:
                return
            if not any(rd.open for rd in readers):
                rd = next((r for r in readers if r.status != 0), readers[0])
                raise WorkerDied(f"a meshrender worker process (pid {rd.pid}) {rd.describe()} "
                                 "before finishing its work")
            for key, _ in sel.select():
                rd = key.data
                if rd is None:  # room in the ticket pipe
                    if feeder.feed():
                        sel.unregister(feeder.fd)
                        feeder.close()  # workers read what is left, then see the end
                    continue
                for msg in rd.read():
                    if isinstance(msg, Failure):
                        if isinstance(msg.error, _Unpicklable):
                            msg.error = msg.error.rebuild()
                        pending[msg.index] = msg
                    else:
                        pending.update(msg)
                if not rd.open:
                    sel.unregister(key.fd)
                    rd.reap()
    finally:
        sel.close()


class Background:
    """`fn()` computed in a forked process while the caller goes on; `result()` waits for
    it (and raises what it raised). Where fork is not available, or with one core (or
    MESHRENDER_JOBS=1: `inline`), `fn` runs in this process at `result()`, the same way.
    `close()` ends a worker whose result is no longer wanted; a Background is also a
    context manager that does so.

    For work that is independent of what the caller does meanwhile (an incremental check
    hashes the committed output while it reads the inputs): the worker sees the process
    as it was at the fork, and its result is pickled back whole, so it should be small."""

    def __init__(self, fn: Callable[[], Any], inline: bool = False):
        self._fn: Callable[[], Any] | None = fn
        self._reader: _Reader | None = None
        self._outcome: Any = None
        if inline or not can_fork() or cpu_count() < 2:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        # What the worker inherits is not scanned by either collector while it runs: a
        # collection would write to every page the two processes share, copying them.
        gc.freeze()
        try:
            r, wfd = os.pipe()
        except OSError:  # (out of descriptors: computed here, at result())
            gc.unfreeze()
            return
        try:
            pid = _fork(functools.partial(_reply, wfd, fn), close=[r])
        except OSError:  # (no process to be had, EAGAIN, ENOMEM: computed here, at result())
            os.close(r)
            gc.unfreeze()
            return
        except BaseException:
            os.close(r)
            gc.unfreeze()
            raise
        finally:
            os.close(wfd)
        self._reader = _Reader(pid, r)
        self._fn = None

    def result(self) -> Any:
        if self._fn is not None:  # (inline: what fn raises, raised here as it is)
            fn, self._fn = self._fn, None
            self._outcome = fn()
        elif self._reader is not None:
            rd, self._reader = self._reader, None
            messages: list[Any] = []
            try:
                while rd.open:
                    messages += rd.read()
            except BaseException:
                rd.close()
                rd.reap(kill=True)
                gc.unfreeze()
                raise
            rd.reap()
            gc.unfreeze()
            if not messages:
                raise WorkerDied(f"a meshrender worker process (pid {rd.pid}) {rd.describe()} "
                                 "before finishing its work")
            self._outcome = messages[0]
        if isinstance(self._outcome, Failure):
            error = self._outcome.error
            raise error.rebuild() if isinstance(error, _Unpicklable) else error
        return self._outcome

    def close(self) -> None:
        self._fn = None
        if self._reader is not None:
            rd, self._reader = self._reader, None
            rd.close()
            rd.reap(kill=True)
            gc.unfreeze()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reply(fd: int, fn: Callable[[], Any]) -> None:
    """Send fn()'s value, or the Failure of what it raised, to `fd` (a Background worker)."""
    try:
        result = fn()
    except Exception as e:
        if isinstance(e, MeshrenderError):
            e = e.with_traceback(None)
        result = Failure(0, _portable(e))
    _send(fd, result)
