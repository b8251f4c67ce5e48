"""SMA, Wilder RSI and Wilder ADX, equal to TA-Lib's SMA, RSI and ADX.

Every function takes 1-D float arrays and returns a new float64 array of the same length. NaN in
the output means "no value": the indicator is still warming up, or the input had a gap (see below).

Warm-up: with the first complete input row at index ``s`` (``s = 0`` for gap-free input), the
first value is at ``s + n - 1`` for ``sma``, ``s + n`` for ``rsi`` and ``s + 2n - 1`` for ``adx``;
these are TA-Lib's lookbacks with its default unstable period 0.

Gaps: NaN or ±inf in the input counts as missing. Rows before the first row where every input is
finite are skipped and the warm-up starts there (as TA-Lib's Python wrapper does with leading NaN).
A missing value in any input at a later row ``k`` makes the outputs at ``k`` and at every later row
NaN. That is stricter than TA-Lib, whose output after such a gap depends on the function and build
(SMA gives NaN; in the build tested, RSI drops to 0, ADX freezes and ignores a NaN in ``close``):
a made-up RSI of 0 or a frozen ADX could trigger a trade, NaN cannot.

Zero tests are exact, as in the TA-Lib build this is checked against (older builds compare with an
epsilon of 1e-8 or 1e-14, which only matters for moves smaller than that): RSI is 0 where the
average gain is 0, including 0/0 on a series that has not changed yet; a DX whose smoothed TR or DI
sum is 0 is undefined, which makes ADX 0 on a series that has not moved. Results could differ from
TA-Lib only after smoothed sums decay into subnormal numbers (a thousand or more unchanged bars).

The Wilder recursions run as a vectorised doubling scan in numpy (no numba, no scipy). Values match
TA-Lib up to rounding (~1e-15 relative), not bit for bit; but the value at a bar is bit for bit the
same however many bars follow it, so cutting the history at T never changes a value at or before T.
"""

from __future__ import annotations

import operator

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def sma(values: npt.ArrayLike, n: int) -> FloatArray:
    """Simple moving average of the last ``n`` values (TA-Lib ``SMA``).

    ``out[t]`` is the mean of ``values[t - n + 1 : t + 1]``; the first value is at ``s + n - 1``
    (``s`` = first finite row). NaN before that, and from the first later non-finite value on.

    Raises ValueError if ``n < 2`` or ``values`` is not 1-D; TypeError if ``n`` is not an integer.
    """
    n = _check_period(n)
    (x,) = _as_series(values)
    out = np.full(x.shape[0], np.nan)
    start, stop = _complete_span(x)
    seg = x[start:stop]
    if seg.shape[0] < n:
        return out
    # Summing deviations from the first value keeps the running sum small, so the difference of
    # two cumulative sums loses little precision (and a constant window is exact).
    ref = seg[0]
    csum = np.concatenate(([0.0], np.cumsum(seg - ref)))
    out[start + n - 1 : stop] = (csum[n:] - csum[:-n]) / n + ref
    return out


def rsi(close: npt.ArrayLike, n: int) -> FloatArray:
    """Wilder's relative strength index over ``n`` bars (TA-Lib ``RSI``), in [0, 100].

    The first average gain and loss are the plain means of the first ``n`` changes; after that
    ``avg <- (avg * (n - 1) + change) / n``. ``RSI = 100 * avg_gain / (avg_gain + avg_loss)``, and 0
    when that sum is exactly 0. The first value is at ``s + n`` (``s`` = first finite row); NaN
    before that, and from the first later non-finite close on.

    Raises ValueError if ``n < 2`` or ``close`` is not 1-D; TypeError if ``n`` is not an integer.
    """
    n = _check_period(n)
    (x,) = _as_series(close)
    return rsi_columns(x[:, None], n)[:, 0]


def rsi_columns(close: npt.ArrayLike, n: int) -> FloatArray:
    """`rsi` of every column of a [T, N] array (a backtest's universe) in one vectorised pass.

    Each column is its own series (its own first finite row and gaps); its values are bit for
    bit those of `rsi` on that column alone (`rsi` runs this function on one column).

    Raises ValueError if ``n < 2`` or ``close`` is not 2-D; TypeError if ``n`` is not an integer.
    """
    n = _check_period(n)
    x = np.asarray(close, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"rsi_columns input must be a 2-D array, got shape {x.shape}")
    out = np.full(x.shape, np.nan)
    finite = np.isfinite(x)
    if finite.all():
        groups = {(0, x.shape[0]): list(range(x.shape[1]))}
    else:
        groups = {}
        for i in range(x.shape[1]):
            groups.setdefault(_complete_span(x[:, i]), []).append(i)
    for (start, stop), cols in groups.items():
        if stop - start <= n:
            continue
        every = len(cols) == x.shape[1]
        seg = x[start:stop] if every else x[start:stop, cols]
        k = seg.shape[1]
        change = np.diff(seg, axis=0)
        moves = np.empty((change.shape[0], 2 * k))  # gains of each column, then losses
        np.maximum(change, 0.0, out=moves[:, :k])
        np.maximum(-change, 0.0, out=moves[:, k:])
        avg = np.empty((moves.shape[0] - n + 1, 2 * k))
        avg[0] = moves[:n].sum(axis=0) / n
        avg[1:] = _wilder_filter(moves[n:] / n, (n - 1) / n, avg[0])
        gain, total = avg[:, :k], avg[:, :k] + avg[:, k:]
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(total == 0.0, 0.0, 100.0 * (gain / total))
        if every:
            out[start + n : stop] = values
        else:
            out[start + n : stop, cols] = values
    return out


def adx(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int) -> FloatArray:
    """Wilder's average directional index over ``n`` bars (TA-Lib ``ADX``), in [0, 100].

    True range, +DM and -DM are summed over the first ``n - 1`` bar-to-bar steps, then smoothed
    with ``S <- S - S / n + x``; ``±DI = 100 * ±DM / TR`` and
    ``DX = 100 * |+DI - -DI| / (+DI + -DI)``, undefined (ADX unchanged) while the TR or DI sum is
    0, which happens only before the first directional move. The first ADX is the mean of the
    first ``n`` DX, an undefined one counting as 0; then ``ADX <- (ADX * (n - 1) + DX) / n``.
    A series that has not moved has ADX 0. The first value is at ``s + 2n - 1`` (``s`` = first row
    where high, low and close are all finite); NaN before that, and from the first later row with
    any non-finite input on.

    Raises ValueError if ``n < 2``, an input is not 1-D or the lengths differ; TypeError if ``n`` is
    not an integer.
    """
    n = _check_period(n)
    h, lo, c = _as_series(high, low, close)
    out = np.full(h.shape[0], np.nan)
    start, stop = _complete_span(h, lo, c)
    if stop - start < 2 * n:
        return out
    h, lo, c = h[start:stop], lo[start:stop], c[start:stop]

    up = np.diff(h)
    down = -np.diff(lo)
    plus_dm = np.where((up > 0.0) & (up > down), up, 0.0)
    minus_dm = np.where((down > 0.0) & (up < down), down, 0.0)
    prev_close = c[:-1]
    true_range = np.maximum(
        h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev_close), np.abs(lo[1:] - prev_close))
    )
    moves = np.column_stack((true_range, plus_dm, minus_dm))  # row j is the step into bar j + 1
    first = moves[: n - 1].sum(axis=0)
    smoothed = _wilder_filter(moves[n - 1 :], (n - 1) / n, first)  # bars n .. end
    tr, pdm, mdm = smoothed[:, 0], smoothed[:, 1], smoothed[:, 2]

    with np.errstate(divide="ignore", invalid="ignore"):
        plus_di = 100.0 * (pdm / tr)
        minus_di = 100.0 * (mdm / tr)
        di_sum = minus_di + plus_di
        # TA-Lib counts an undefined DX as 0 in the first ADX and keeps ADX unchanged on later
        # ones. Smoothed sums never return to 0 once positive, so DX can only be undefined before
        # the first directional move, while ADX is still 0: DX = 0 there gives the same values.
        defined = (tr != 0.0) & (di_sum != 0.0)
        dx = np.where(defined, 100.0 * (np.abs(minus_di - plus_di) / di_sum), 0.0)

    first_adx = float(dx[:n].sum()) / n
    later = _wilder_filter(dx[n:, None] / n, (n - 1) / n, first_adx)[:, 0]
    out[start + 2 * n - 1] = first_adx
    out[start + 2 * n : stop] = later
    return out


def _check_period(n: int) -> int:
    period = operator.index(n)
    if period < 2:
        raise ValueError(f"indicator period must be an integer >= 2, got {n!r}")
    return period


def _as_series(*arrays: npt.ArrayLike) -> list[FloatArray]:
    series = [np.asarray(a, dtype=np.float64) for a in arrays]
    for s in series:
        if s.ndim != 1:
            raise ValueError(f"indicator input must be a 1-D array, got shape {s.shape}")
    lengths = {s.shape[0] for s in series}
    if len(lengths) > 1:
        raise ValueError(f"indicator inputs must have the same length, got {sorted(lengths)}")
    return series


def _complete_span(*arrays: FloatArray) -> tuple[int, int]:
    """[start, stop) of the rows computed on: first all-finite row up to the next gap."""
    finite = np.isfinite(arrays[0])
    for a in arrays[1:]:
        finite &= np.isfinite(a)
    size = finite.shape[0]
    if finite.all():
        return 0, size
    if not finite.any():
        return size, size
    start = int(np.argmax(finite))
    rest = finite[start:]
    stop = size if rest.all() else start + int(np.argmin(rest))
    return start, stop


def _wilder_filter(u: FloatArray, r: float, y0: npt.ArrayLike) -> FloatArray:
    """Solve ``y[t, i] = r * y[t-1, i] + u[t, i]`` for each column ``i``, with ``y[-1, i] = y0[i]``.

    A doubling scan: after the pass with offset ``d`` each ``y[t]`` holds the sum of
    ``r**(t - k) * u[k]`` over the last ``2 * d`` steps, so ~log2(len) vectorised passes solve it.
    Every factor is <= 1, so this is as well conditioned as the step-by-step loop, and ``y[t]``
    goes through the same operations however long the series is (appending bars never changes
    earlier values, not even in the last bit).
    """
    steps = u.shape[0]
    y = np.empty((steps + 1, u.shape[1]))
    y[0] = y0
    y[1:] = u
    scaled = np.empty_like(y)
    factor, offset = r, 1
    while offset <= steps:
        part = scaled[: steps + 1 - offset]
        np.multiply(y[:-offset], factor, out=part)
        y[offset:] += part
        factor *= factor
        offset *= 2
    return y[1:]
