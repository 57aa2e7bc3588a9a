"""Per-axis tap tables as typed objects, their windows, and a cache bounded in bytes.

One table per spatial axis defines a whole resampling mode: for each output
sample, the input indices it reads (``idx``), their weights and how many are
used (``count``). Tables are built from *global* output indices, so a window of
the output is computed from a row slice of the table with its indices shifted
by the start of the input slab it reads: the arithmetic of any output element
depends on the table alone, never on how much of the output a call computes.
"""

import math
import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from . import _validation as v
from ._kernels import _tables

WALK = _tables.WALK_CODES


class AxisTable(NamedTuple):
    """Float tap table of one axis, with the walk the kernels use for it."""

    idx: np.ndarray  # (size_out, k) intp
    weights: np.ndarray  # (size_out, k) float32 / float64
    count: np.ndarray  # (size_out,) intp
    walk: object  # a WALK code, or (code, up2_lo, up2_hi, dn2_lo, dn2_hi, dn2_taps, dn2_off)
    mean_taps: float
    size_in: int

    @property
    def size_out(self):
        return self.idx.shape[0]

    @property
    def nbytes(self):
        return self.idx.nbytes + self.weights.nbytes + self.count.nbytes

    def footprint(self, o0, o1):
        """Input range ``[lo, hi)`` that outputs ``o0 .. o1-1`` read."""
        return _footprint(self.idx, self.count, o0, o1)

    def window(self, o0, o1):
        """The table of outputs ``o0 .. o1-1``, indices relative to their footprint."""
        lo, hi = self.footprint(o0, o1)
        idx = np.ascontiguousarray(self.idx[o0:o1] - lo)
        weights = np.ascontiguousarray(self.weights[o0:o1])
        count = np.ascontiguousarray(self.count[o0:o1])
        # The walk of a window is re-derived: every fast walk is proven to give
        # the plain walk's bits, so this only chooses speed.
        walk = walk_code(idx, weights, count, hi - lo)
        return AxisTable(idx, weights, count, walk, self.mean_taps, hi - lo), lo


class FixedTable(NamedTuple):
    """uint8 fixed-point table of one axis: contiguous windows with int16 weights."""

    idx: np.ndarray  # (size_out, k) intp, taps idx[o, 0] .. idx[o, 0] + count[o] - 1
    weights: np.ndarray  # (size_out, k) int16, scaled by 2**precision
    count: np.ndarray
    precision: int  # chosen from the whole axis' weights (torch's rule)
    skip: bool  # an identity axis: its pass is skipped (no intermediate rounding)
    up2: tuple  # (lo, hi) range where the table is periodic x2, else (0, 0)
    size_in: int

    @property
    def size_out(self):
        return self.idx.shape[0]

    @property
    def nbytes(self):
        return self.idx.nbytes + self.weights.nbytes + self.count.nbytes

    def footprint(self, o0, o1):
        return _footprint(self.idx, self.count, o0, o1)

    def window(self, o0, o1):
        lo, hi = self.footprint(o0, o1)
        return FixedTable(np.ascontiguousarray(self.idx[o0:o1] - lo),
                          np.ascontiguousarray(self.weights[o0:o1]),
                          np.ascontiguousarray(self.count[o0:o1]), self.precision,
                          self.skip, _fixed_up2(self.idx[o0:o1] - lo, self.weights[o0:o1],
                                                self.count[o0:o1], hi - lo),
                          hi - lo), lo


def _footprint(idx, count, o0, o1):
    if o1 <= o0:
        return 0, 0
    rows = idx[o0:o1]
    if idx.shape[1] == 1:
        # One column: a box table (rows read count consecutive samples).
        n = count[o0:o1]
        used = n > 0
        if not used.any():
            return 0, 1
        return int(rows[used, 0].min()), int((rows[used, 0] + n[used]).max())
    used = np.arange(idx.shape[1])[None, :] < count[o0:o1, None]
    taps = rows[used]
    if taps.size == 0:
        # Adjoint rows of inputs that no output reads (their gradient is 0):
        # any one source sample keeps the slab well formed.
        return 0, 1
    return int(taps.min()), int(taps.max()) + 1


# ---------------------------------------------------------------------------
# A cache bounded in bytes (tables of long axes are big; entry counts are not a bound)
# ---------------------------------------------------------------------------

class ByteLRU:
    """Least-recently-used cache bounded by the bytes its values hold; thread-safe.

    Small values are also kept in a front memo of at most ``RECENT`` entries,
    read without the lock (a dict lookup is atomic): a repeated tiny call costs
    one dict lookup, not the lock and the reordering. The memo is bounded in
    entries of at most ``RECENT_BYTES`` each, so the byte bound still holds
    within ``RECENT * RECENT_BYTES``.
    """

    RECENT = 32
    RECENT_BYTES = 256 << 10

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items = OrderedDict()  # key -> (value, nbytes)
        self._recent = {}  # key -> value, small values only
        self._lock = threading.Lock()

    def get(self, key):
        hit = self._recent.get(key)
        if hit is not None:
            return hit
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            self._remember(key, *item)
            return item[0]

    def put(self, key, value, nbytes):
        """Keep ``value`` (unless it alone would take a quarter of the budget)."""
        if nbytes > self.max_bytes // 4:
            return value  # rebuilt per call rather than crowding out the rest
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, nbytes)
                self.bytes += nbytes
            while self.bytes > self.max_bytes:
                _, (_, old_bytes) = self._items.popitem(last=False)
                self.bytes -= old_bytes
            self._remember(key, value, nbytes)
        return value

    def _remember(self, key, value, nbytes):
        # (under the lock) a fresh dict when full: readers see the old or the new one
        if nbytes <= self.RECENT_BYTES:
            if len(self._recent) >= self.RECENT:
                self._recent = {}
            self._recent[key] = value

    def clear(self):
        with self._lock:
            self._items.clear()
            self._recent = {}
            self.bytes = 0

    def __len__(self):
        return len(self._items)


TABLE_CACHE = ByteLRU(64 << 20)
_TABLE_BYTES_MAX = 4 << 30


def _cached(kind):
    def decorate(build):
        def table(*key):
            full_key = (kind,) + key
            hit = TABLE_CACHE.get(full_key)
            if hit is not None:
                return hit
            value = build(*key)
            return TABLE_CACHE.put(full_key, value, value.nbytes)

        table.__name__ = build.__name__
        table.__doc__ = build.__doc__
        return table

    return decorate


def table_bytes(table_mode, size_in, size_out, adjoint=False):
    """About the bytes the whole table of one axis takes (``adjoint``: its transpose).

    A table holds an index and a weight per output sample and tap; area tables
    take the box form: one index, weight and count (24 bytes at most) per output
    sample, whatever the window. A transposed table has a row per input sample,
    as wide as the most outputs that read one. Every plan's table passes here,
    whole or lazy, so this also refuses an area axis whose exact window
    arithmetic (``o * size_in``) would overflow int64.
    """
    if table_mode == "area" and size_in * (size_out + 1) >= 2**63:
        # area windows are exact integer arithmetic on o * size_in
        raise ValueError(
            f"an area axis of length {size_in} resampled to {size_out} is beyond 64-bit "
            f"index arithmetic; resample in stages"
        )
    ratio = size_in / size_out
    if table_mode in ("nearest", "nearest-exact"):
        taps = 1
    elif table_mode == "linear":
        taps = 2
    elif table_mode == "cubic":
        taps = 4
    elif table_mode == "area":
        taps = 1.5  # the box form: 24 bytes per output sample
    else:
        # What build_table allocates before trimming to the widest row.
        taps = 2 * math.ceil(_tables.AA_HALF_WIDTH[table_mode] * max(ratio, 1.0)) + 1
    if adjoint:
        # a row per input, as wide as the outputs that read one (+1: windows that
        # do not divide evenly straddle rows)
        return int(16 * size_in * (math.ceil(taps * size_out / size_in) + 1))
    return int(size_out * taps * 16)


def check_table_size(table_mode, size_in, size_out):
    """Refuse, with a clear error, a whole table that would not fit in memory.

    Only the tables that are held whole (uint8's fixed point, whose precision
    comes from the whole axis) can hit this; float and gather plans build long
    axes' tables a window at a time (:class:`LazyTable`).
    """
    n_bytes = table_bytes(table_mode, size_in, size_out)
    if n_bytes > _TABLE_BYTES_MAX:
        raise ValueError(
            f"resampling an axis of length {size_in} to {size_out} needs a "
            f"{v._human_bytes(n_bytes)} tap table, too large to allocate; resample in "
            f"stages or split the array along that axis"
        )
    return n_bytes


def _freeze(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


@_cached("forward")
def axis_table(table_mode, size_in, size_out, scale, align_corners, dtype_str):
    """Forward tap table of one axis."""
    check_table_size(table_mode, size_in, size_out)
    idx, w, cnt = _freeze(*_tables.build_table(table_mode, size_in, size_out, scale,
                                                align_corners, np.dtype(dtype_str)))
    return AxisTable(idx, w, cnt, walk_code(idx, w, cnt, size_in), float(cnt.mean()), size_in)


@_cached("adjoint")
def axis_table_adjoint(table_mode, size_in, size_out, scale, align_corners, dtype_str):
    """Transposed table of one axis: input index <- the outputs that read it."""
    t = axis_table(table_mode, size_in, size_out, scale, align_corners, dtype_str)
    idx, w, cnt = _freeze(*_tables.transpose_table(t.idx, t.weights, t.count, size_in))
    return AxisTable(idx, w, cnt, walk_code(idx, w, cnt, size_out), float(cnt.mean()),
                     size_out)


@_cached("uint8")
def axis_table_uint8(table_mode, size_in, size_out, scale, align_corners):
    """Fixed-point table of one axis: contiguous windows with int16 weights."""
    t = axis_table(table_mode, size_in, size_out, scale, align_corners, "<f8")
    # Transposing twice merges repeated border taps into contiguous windows.
    idx_t, w_t, cnt_t = _tables.transpose_table(t.idx, t.weights, t.count, size_in)
    idx_w, w_w, cnt_w = _tables.transpose_table(idx_t, w_t, cnt_t, size_out)
    q, precision = _tables.quantize_table(w_w, cnt_w)
    skip = t.walk == WALK["copy"]
    up2 = _fixed_up2(idx_w, q, cnt_w, size_in)
    idx_w, q, cnt_w = _freeze(idx_w, q, cnt_w)
    return FixedTable(idx_w, q, cnt_w, precision, skip, up2, size_in)


# ---------------------------------------------------------------------------
# Long axes: tables built a window at a time
# ---------------------------------------------------------------------------

# A whole table bigger than the cache would keep (a quarter of its budget) is rebuilt
# on every call anyway; for such axes only windows are ever built, so the memory a
# call needs beside its arrays stays bounded however long the axis is (a 16M-sample
# area backward held a 320 MiB transposed table).
LAZY_ABOVE = TABLE_CACHE.max_bytes // 4
_LAZY_TILE_BYTES = 8 << 20  # table bytes per window a call builds
_LAZY_MIN_ROWS = 1024  # rows per window at least (each window is one kernel call)
_SCAN_ROWS = 1 << 16
_SCAN_EXACT_ROWS = 1 << 22


class LazyTable(NamedTuple):
    """The table of a long axis, never held whole: :meth:`window` builds the rows
    it is asked for from their global indices, each the very row of the whole
    table (of its transpose, for ``adjoint``), so a call gives the same bits."""

    args: tuple  # (table_mode, size_in, size_out, scale, align_corners, dtype_str) forward
    adjoint: bool
    size_in: int  # the length this direction reads
    size_out: int
    walk: object  # WALK["copy"] for an identity axis, else WALK["generic"] (planner only)
    mean_taps: float  # what the whole table's would be (the pass order depends on it)
    tile_rows: int  # rows per window of about _LAZY_TILE_BYTES

    @property
    def nbytes(self):
        return 0

    def rows(self, o0, o1):
        """Rows ``o0 .. o1-1`` as ``(idx, weights, count)`` with global indices."""
        mode, n_in, n_out, scale, align_corners, dtype_str = self.args
        dtype = np.dtype(dtype_str)
        if not self.adjoint:
            return _tables.build_table(mode, n_in, n_out, scale, align_corners, dtype, o0, o1)
        # Inputs o0 .. o1-1 are read by one run of outputs (every table's taps move
        # right with the output index): transpose just those forward rows.
        first = _first_row(self, lambda idx, cnt: _last_tap(idx, cnt, 0) >= o0)
        stop = _first_row(self, lambda idx, cnt: idx[0, 0] >= o1)
        idx, w, cnt = _tables.build_table(mode, n_in, n_out, scale, align_corners, dtype,
                                          first, stop)
        return _tables.transpose_table(idx, w, cnt, o1 - o0, o0, first)

    def footprint(self, o0, o1):
        if o1 <= o0:
            return 0, 0
        idx, _, cnt = self.rows(o0, o1)
        return _monotone_footprint(idx, cnt)

    def window(self, o0, o1):
        idx, w, cnt = self.rows(o0, o1)
        lo, hi = _monotone_footprint(idx, cnt)
        idx -= lo
        return AxisTable(idx, w, cnt, walk_code(idx, w, cnt, hi - lo), self.mean_taps,
                         hi - lo), lo


def _monotone_footprint(idx, cnt):
    """:func:`_footprint` of whole rows in O(1): every table's rows (and its
    transpose's) list their taps in increasing order, and move right with the
    row, so the first and last rows with taps bound the window."""
    first, last = 0, cnt.shape[0] - 1
    if cnt[first] == 0 or cnt[last] == 0:  # adjoint rows no output reads
        nonzero = np.flatnonzero(cnt)
        if nonzero.size == 0:
            return 0, 1  # as _footprint
        first, last = int(nonzero[0]), int(nonzero[-1])
    return int(idx[first, 0]), _last_tap(idx, cnt, last) + 1


def _last_tap(idx, cnt, row):
    """The last source index that ``row`` reads (box tables: consecutive taps)."""
    n = int(cnt[row])
    return int(idx[row, 0]) + n - 1 if idx.shape[1] == 1 else int(idx[row, n - 1])


def _first_row(lazy, past):
    """The first forward row ``r`` for which ``past(idx, cnt)`` of that one row
    holds (monotone), or the forward length."""
    mode, n_in, n_out, scale, align_corners, dtype_str = lazy.args
    dtype = np.dtype(dtype_str)
    lo, hi = 0, n_out
    while lo < hi:
        mid = (lo + hi) // 2
        idx, _, cnt = _tables.build_table(mode, n_in, n_out, scale, align_corners, dtype,
                                          mid, mid + 1)
        if past(idx, cnt):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _scan(args, adjoint):
    """(mean taps, identity?) of the whole table, from its rows a chunk at a time.

    Exact up to _SCAN_EXACT_ROWS forward rows; beyond, estimated from the middle
    _SCAN_ROWS rows (an absurd axis must not cost O(axis) to plan). Either way
    a function of the geometry alone, so every call and window of a plan, on
    any worker, takes the same pass order.
    """
    mode, n_in, n_out, scale, align_corners, dtype_str = args
    dtype = np.dtype(dtype_str)
    taps = 0
    identity = True
    starts = range(0, n_out, _SCAN_ROWS)
    if n_out > _SCAN_EXACT_ROWS:
        starts = [n_out // 2 - _SCAN_ROWS // 2]
    for o0 in starts:
        o1 = min(n_out, o0 + _SCAN_ROWS)
        idx, w, cnt = _tables.build_table(mode, n_in, n_out, scale, align_corners, dtype,
                                          o0, o1)
        if adjoint and idx.shape[1] > 1:
            # the transpose merges a row's repeated (clamped) taps
            used = np.arange(idx.shape[1])[None, :] < cnt[:, None]
            repeat = np.zeros_like(used)
            repeat[:, 1:] = (idx[:, 1:] == idx[:, :-1]) & used[:, 1:]
            taps += int(cnt.sum()) - int(repeat.sum())
        else:
            taps += int(cnt.sum())
        identity = identity and bool(np.all(cnt == 1) and np.all(w[:, 0] == 1)
                                     and np.array_equal(idx[:, 0], np.arange(o0, o1)))
    identity = identity and n_in == n_out
    if n_out > _SCAN_EXACT_ROWS:
        taps = taps * n_out / _SCAN_ROWS
    return taps / (n_in if adjoint else n_out), identity


def plan_table(table_mode, size_in, size_out, scale, align_corners, dtype_str, adjoint=False,
               stats=True):
    """The table of one axis for a float or gather plan: whole (cached) when it is
    small, a :class:`LazyTable` when it is too long to hold.

    ``stats=False``: the planner will not read the lazy table's ``mean_taps`` and
    ``walk`` (a 1-D pass has one order only), so the O(axis) scan that makes them
    exact is skipped: a plan of a huge axis costs O(1) until it runs.
    """
    n_bytes = table_bytes(table_mode, size_in, size_out, adjoint)
    args = (table_mode, size_in, size_out, scale, align_corners, dtype_str)
    if n_bytes <= LAZY_ABOVE:
        return (axis_table_adjoint if adjoint else axis_table)(*args)
    rows = size_in if adjoint else size_out
    if stats:
        mean_taps, identity = _scan(args, adjoint)
    else:
        mean_taps, identity = n_bytes / (16 * rows), False
    tile = max(_LAZY_MIN_ROWS, int(_LAZY_TILE_BYTES * rows // n_bytes) // 64 * 64)
    return LazyTable(args, adjoint, size_out if adjoint else size_in, rows,
                     WALK["copy"] if identity else WALK["generic"], mean_taps, tile)


def _fixed_up2(idx, q, cnt, size_in):
    up2 = periodic_x2(idx, q, size_in) if idx.shape[1] == 2 else (0, 0)
    up2 = tuple(int(x) for x in up2)
    if up2[1] > up2[0] and not np.all(cnt[2 * up2[0]:2 * up2[1]] == 2):
        up2 = (0, 0)
    return up2


def unit_table(dtype_str):
    """The 1 -> 1 identity table that pads a plan to the kernels' three axes."""
    return axis_table("nearest", 1, 1, None, False, dtype_str)


def walk_code(idx, w, cnt, size_in):
    """How the kernels walk this axis: a code, or the tuple
    ``(code, up2_lo, up2_hi, dn2_lo, dn2_hi, dn2_taps, dn2_off, fix_lo, fix_hi)``
    naming the row ranges that faster loops cover (see ``Axis`` in ``_tables.pxd``);
    rows outside them take the plain table walk."""
    size_out, k = idx.shape
    if k == 1 and np.all(cnt == 1) and np.all(w == 1):
        if size_out == size_in and np.array_equal(idx[:, 0], np.arange(size_out)):
            return WALK["copy"]
        return WALK["gather"]
    if k in (2, 4) and np.all(cnt == k):
        code = WALK["tap2" if k == 2 else "tap4"]
    else:
        code = WALK["generic"]
    fix = full_rows(cnt, k) if k > 1 else (0, 0)
    up = _tables.periodic_x2_run(idx, w, cnt, size_in)
    down = _tables.periodic_down2(idx, w, cnt)
    if up[1] > up[0] or down[1] > down[0] or fix[1] > fix[0]:
        return (code,) + tuple(up) + tuple(down) + tuple(fix)
    return code


def full_rows(cnt, k):
    """[lo, hi): the run of rows around the middle that all have k taps.

    Antialias and adjoint tables truncate their border rows; the interior is
    walked with a constant tap count.
    """
    full = cnt == k
    mid = cnt.shape[0] // 2
    if cnt.shape[0] == 0 or not full[mid]:
        return (0, 0)
    lo = mid - int(np.argmin(full[mid::-1])) + 1 if not full[:mid + 1].all() else 0
    hi = mid + int(np.argmin(full[mid:])) if not full[mid:].all() else cnt.shape[0]
    return (lo, hi) if hi - lo >= 4 else (0, 0)


def periodic_x2(idx, w, size_in):
    """Range [lo, hi) of i where outputs 2i, 2i+1 repeat rows 2lo, 2lo+1 shifted by i - lo.

    Exact comparison: the fast loop must use the very weights the table holds.
    """
    size_out, k = idx.shape
    lo = k // 2  # far enough from the border that no tap is clamped
    hi = size_in - lo
    if size_out != 2 * size_in or hi - lo < 2:
        return 0, 0
    o = np.arange(2 * lo, 2 * hi)
    parity = o % 2
    shift = o // 2 - lo
    ref_idx = idx[2 * lo + parity] + shift[:, None]
    ref_w = w[2 * lo + parity]
    contiguous = np.all(np.diff(idx[2 * lo:2 * lo + 2], axis=1) == 1)
    if contiguous and np.array_equal(idx[o], ref_idx) and np.array_equal(w[o], ref_w):
        return lo, hi
    return 0, 0
