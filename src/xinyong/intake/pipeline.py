"""Prepared chunks from a source: in this process, or read and prepared by a helper process.

Large files are parsed and validated in a second process while this one matches subjects and
writes (on PostgreSQL the server takes a third share of the CPU). The helper only reads the
database (committed records, for the unchanged-row hint) and never writes; the batch's
transaction stays in the caller's process. If the caller dies (even kill -9) the helper
notices its parent is gone and exits.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Any

from xinyong.catalogue.schemas import Resource
from xinyong.identity.crypto import Keyring

from .prepare import HintLookup, PreparedChunk, Preparer
from .readers import FileRefused, Source

log = logging.getLogger("xinyong.intake.pipeline")

#: Files smaller than this are prepared in-process (starting a helper costs ~0.5 s).
PARALLEL_MIN_BYTES = 4 * 1024 * 1024


@dataclass
class SourceMeta:
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    header_row: int | None
    total_bytes: int | None
    unknown_columns: list[str] = field(default_factory=list)
    duplicate_columns: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, src: Source) -> SourceMeta:
        return cls(src.format, src.encoding, src.delimiter, src.sheet, src.header_row, src.total_bytes,
                   list(src.unknown_columns[:100]), list(src.duplicate_columns))


# --- garbage collection ----------------------------------------------------------------------------
# Intake allocates millions of short-lived tuples and lists, none of them in reference cycles. The
# cyclic collector, triggered every few hundred allocations, walks every live object each time it
# reaches the older generations: measured, it took half of the preparer's CPU time and a third of
# the pipe's. It is paused while batches run (reference counting still frees everything at once)
# and run in full every ``GC_EVERY_CHUNKS`` chunks, so a stray cycle cannot accumulate.

GC_EVERY_CHUNKS = 25
_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector (process-wide) for the duration; nests and works across threads:
    it is re-enabled when the last pause ends, and only if it was enabled before the first."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def gc_tick(chunks_done: int) -> None:
    if chunks_done and chunks_done % GC_EVERY_CHUNKS == 0:
        gc.collect()


def blocks(src: Source, size: int) -> Iterator[list[tuple[int, list[Any]]]]:
    it = src.rows()
    while block := list(islice(it, size)):
        yield block


#: Rows validated together: column passes run fastest on blocks that stay in the CPU cache.
BLOCK_ROWS = 2000


def merge_chunks(parts: list[PreparedChunk], position: int | None) -> PreparedChunk:
    if len(parts) == 1:
        return parts[0]._replace(position=position)
    return PreparedChunk(rows=sum(p.rows for p in parts), accepted=[r for p in parts for r in p.accepted],
                         hinted=[r for p in parts for r in p.hinted], errors=[e for p in parts for e in p.errors],
                         rejected=sum(p.rejected for p in parts), position=position)


def prepare_in_process(src: Source, preparer: Preparer, chunk_rows: int, *,
                       overlap_lookups: bool = False) -> Iterator[PreparedChunk]:
    """Prepared chunks of about ``chunk_rows`` rows (the writer's unit), built block by block.
    ``overlap_lookups``: look up each block's hints in a thread while the next block is read and
    hashed (only when the lookup has a connection of its own: the helper process)."""
    parts: list[PreparedChunk] = []
    rows = 0
    position = None
    for part, block_rows, position in _prepared_blocks(src, preparer, min(BLOCK_ROWS, chunk_rows),
                                                       overlap_lookups):
        parts.append(part)
        rows += block_rows
        if rows >= chunk_rows:
            yield merge_chunks(parts, position)
            parts, rows = [], 0
    if parts:
        yield merge_chunks(parts, position)


def _prepared_blocks(src: Source, preparer: Preparer, size: int, overlap: bool
                     ) -> Iterator[tuple[PreparedChunk, int, int | None]]:
    """(prepared block, its rows, bytes read so far) for each block of the source."""
    if not overlap or preparer.hints is None:
        for block in blocks(src, size):
            yield preparer.prepare(block), len(block), src.bytes_read()
        return
    # One worker: lookups run one at a time, in order, on the lookup's own connection.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xinyong-intake-hints") as pool:
        pending = None
        for block in blocks(src, size):
            started = preparer.start(block)
            future = pool.submit(preparer.hints, started.lookup) if started.lookup else None
            if pending is not None:
                yield _finish_block(preparer, *pending)
            pending = (started, future, len(block), src.bytes_read())
        if pending is not None:
            yield _finish_block(preparer, *pending)


def _finish_block(preparer: Preparer, started, future: Future | None, block_rows: int, position: int | None
                  ) -> tuple[PreparedChunk, int, int | None]:
    return preparer.finish(started, future.result() if future is not None else None), block_rows, position


# --- helper process --------------------------------------------------------------------------------
# A fresh interpreter (`python -m xinyong.intake.worker`) talking over a pipe: no inherited
# database connections, no re-import of the caller's main module, and natural back-pressure
# (the helper blocks when the pipe is full). When the caller dies the helper's next write
# fails (broken pipe) and it exits.


@dataclass
class WorkerArgs:
    path: str
    resource: Resource  # the caller's own definition and keys, not whatever the helper would load
    keyring: Keyring
    sheet: str | None
    today: date
    db_url: str | None
    chunk_rows: int
    windows: Any = None  # the caller's WindowCalculator (its policy, not whatever the helper would load)


def _db_hints(url: str, resource: str) -> tuple[HintLookup, Callable[[], None]]:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from xinyong.db.engine import normalize_url
    from xinyong.intake.store import PG_RECORD_LOOKUP

    engine = create_engine(normalize_url(url), poolclass=NullPool)
    conn = engine.connect()
    pg = engine.dialect.name == "postgresql"
    if pg:
        conn.exec_driver_sql("SET jit = off")
        conn.commit()  # a session setting: kept only if its transaction commits

    def hints(keys: list[str]) -> dict[str, tuple[str | None, str]]:
        out: dict[str, tuple[str | None, str]] = {}
        if pg:
            driver = conn.connection.driver_connection
            with driver.cursor() as cur:
                cur.execute(PG_RECORD_LOOKUP, (",".join(keys), resource))
                out.update((nk, (raw, content)) for nk, _, content, raw, status, _ in cur.fetchall()
                           if status == "active")
            driver.rollback()
        else:
            raw = conn.connection.driver_connection
            for i in range(0, len(keys), 900):
                part = keys[i:i + 900]
                rows = raw.execute(
                    "SELECT natural_key_hash, raw_hash, content_hash FROM records WHERE resource = ? "
                    f"AND status = 'active' AND natural_key_hash IN ({','.join('?' * len(part))})", [resource, *part])
                out.update((nk, (raw_hash, content)) for nk, raw_hash, content in rows)
        conn.rollback()  # short read transactions: never hold a snapshot open
        return out

    def close() -> None:
        conn.close()
        engine.dispose()

    return hints, close


_FRAME = struct.Struct("<Q")


def _write_frame(out, item: Any) -> None:
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_FRAME.pack(len(data)))
    out.write(data)
    out.flush()


def _read_bytes(stream) -> bytes:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError
    size = _FRAME.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _read_frame(stream) -> Any:
    return pickle.loads(_read_bytes(stream))  # our own child's output: trusted


def _gated(hints: HintLookup, gate) -> HintLookup:
    """The hint lookup, held back until the writer sends the go-ahead: it has then taken this
    resource's writer lock, so no other batch can commit a change to a record after its hint
    was read (a row hinted unchanged against a record another batch then changed would be
    counted unchanged instead of updating it back). Lookups run one at a time (one thread)."""
    opened = False

    def lookup(keys: list[str]) -> dict[str, tuple[str | None, str]]:
        nonlocal opened
        if not opened:
            if gate.read(1) != GO:
                raise BrokenPipeError("the writer is gone")
            opened = True
        return hints(keys)

    return lookup


GO = b"g"


def worker_main() -> None:  # pragma: no cover - runs in the helper process
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the frame stream
    args: WorkerArgs = _read_frame(sys.stdin.buffer)
    close = None
    try:
        from xinyong.intake.readers import open_source

        src = open_source(args.path, args.resource, sheet=args.sheet)
        _write_frame(out, ("meta", SourceMeta.of(src)))
        hints = None
        if args.db_url:
            hints, close = _db_hints(args.db_url, args.resource.code)
            hints = _gated(hints, sys.stdin.buffer)
        preparer = Preparer(args.resource, src.fields, keyring=args.keyring, today=args.today, hints=hints,
                            windows=args.windows)
        gc.freeze()  # modules and set-up: never worth scanning again
        with gc_paused():
            chunks = prepare_in_process(src, preparer, args.chunk_rows, overlap_lookups=hints is not None)
            for n, chunk in enumerate(chunks, start=1):
                _write_frame(out, ("chunk", chunk.pack()))
                del chunk
                gc_tick(n)
        _write_frame(out, ("done", None))
    except BrokenPipeError:
        os._exit(3)  # the writer is gone: nothing to hand rows to
    except FileRefused as exc:
        _write_frame(out, ("refused", (exc.message, exc.details)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        _write_frame(out, ("error", f"{type(exc).__name__}: {exc}"))
    finally:
        if close is not None:
            close()


class HelperFailed(RuntimeError):
    pass


class Helper:
    """The helper process and its stream of (kind, payload) messages."""

    def __init__(self, args: WorkerArgs) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "xinyong.intake.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=os.environ.copy(), bufsize=1 << 20)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # stdin stays open: the go-ahead for hint lookups follows (``allow_lookups``).
        _write_frame(self.proc.stdin, args)
        self.stream = self.proc.stdout
        # A thread drains the pipe one frame ahead, so the helper prepares the next chunk while
        # this process is still writing the previous one (reading releases the GIL).
        self._frames: queue.Queue = queue.Queue(maxsize=2)
        self._reader = threading.Thread(target=self._drain, name="xinyong-intake-pipe", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        try:
            while True:
                self._frames.put(_read_bytes(self.stream))
        except (EOFError, ValueError, OSError):
            self._frames.put(None)

    def next(self) -> tuple[str, Any]:
        data = self._frames.get()
        if data is None:
            code = self.proc.wait()
            raise HelperFailed(f"intake reader process exited with code {code}")
        return pickle.loads(data)  # our own child's output: trusted

    def meta(self) -> SourceMeta:
        kind, payload = self.next()
        if kind == "meta":
            return payload
        if kind == "refused":
            message, details = payload
            raise FileRefused(message, details=details)
        raise HelperFailed(str(payload))

    def allow_lookups(self) -> None:
        """Call once the writer holds the resource's lock (see ``_gated``)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(GO)
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # it has ended (refused file, error): its own message says why

    def chunks(self) -> Iterator[PreparedChunk]:
        while True:
            kind, payload = self.next()
            if kind == "chunk":
                yield PreparedChunk.unpack(payload)
            elif kind == "done":
                return
            elif kind == "refused":
                message, details = payload
                raise FileRefused(message, details=details)
            else:
                raise HelperFailed(str(payload))

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        while self._reader.is_alive():  # it ends at EOF; unblock it if the queue is full
            try:
                self._frames.get(timeout=0.1)
            except queue.Empty:
                pass
        self.stream.close()

