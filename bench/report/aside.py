"""Work done beside the report's own: a forked process computes one call while this process goes on,
so a 2-core machine draws figures and renders pages at once. Where fork is unavailable, or the
thread budget (BENCH_THREADS, else the usable cores) is one, the call is made here when its result
is asked for: the result is the same either way.

Not concurrent.futures' ProcessPoolExecutor with the fork context: it pickles what is submitted
(fn and its arguments, here the whole view model) through its call queue, although its worker is
forked at the first submit; its errors and a dead worker read differently; and at exit it waits
for an unfinished worker that a daemon child would not keep alive."""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from typing import Any

from bench import env


def _child(conn, fn: Callable, args: tuple) -> None:
    try:
        conn.send((True, fn(*args)))
    except BaseException:  # noqa: BLE001 -- whatever it was, the parent reports it
        conn.send((False, traceback.format_exc()))
    finally:
        conn.close()


def beside(fn: Callable[..., Any], *args) -> Callable[[], Any]:
    """Start fn(*args) in a forked child (it inherits this process's memory: nothing is pickled but
    the result) and return the function that waits for its result. An error in the child is raised
    here with the child's traceback."""
    if env.thread_count() < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return lambda: fn(*args)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, fn, args), daemon=True)
    child.start()
    send.close()

    def result():
        try:
            ok, value = receive.recv()
        except EOFError:
            child.join()
            raise RuntimeError(f"the process drawing beside the report ended without a result "
                               f"(exit code {child.exitcode})") from None
        finally:
            receive.close()
        child.join()
        if not ok:
            raise RuntimeError(f"in the process drawing beside the report:\n{value}")
        return value

    return result
