"""Numba kernels behind the ``"numba"`` neighbour backend (private).

Exactness
---------
Distances use the same IEEE operations as a brute-force reference
(``max_d |a_d - b_d|`` for the max-norm, the ordered sum of squares for the
Euclidean norm), and every pruning test on a bounding box is
*monotone-consistent* with those per-point computations: rounding is monotone,
so ``fl(lo - q) <= fl(p - q) <= fl(hi - q)`` for every point ``p`` of a box
``[lo, hi]``; a box is skipped, or counted whole, only when each of its points
would have been skipped, or counted, one by one. Counts and k-th distances
therefore equal brute force bit for bit (Euclidean ones up to the order in
which the ``d`` squares are summed). Inputs must be finite (NaN pads leaves).

Tree
----
An implicit KD-tree with *full* leaves: ``W`` (a multiple of 8) points per
leaf, except the very last leaf; node ``i`` has children ``2i + 1`` and
``2i + 2``; a node holding ``L`` leaves gives ``ceil(L / 2)`` to its left child,
so splits are at (near-)medians, every leaf sits at the same depth, and a few
leaf slots may stay empty (their box is empty and always pruned). The split
coordinate is the widest side of the node's (loose) box and the split is found
by quickselect on a working copy of the points that is permuted along (deeper
levels touch only their own, cache-resident, range), so building costs
O(n log n); the top levels are split first, then whole subtrees in parallel.

Points are copied into *leaf blocks*: ``blk[t, dim, j]`` is coordinate ``dim``
of the ``j``-th point of leaf ``t`` (position ``p = t * W + j``; the last
block is padded with NaN, which fails every comparison). A leaf is one
contiguous, cache- and TLB-friendly block, scanned by branch-free loops that
vectorise (AVX2): per point, count the coordinates whose difference is within
the bound (``|x_jd - q_d| <= r``), checking every 4 coordinates whether any
point can still pass; only points passing in every coordinate get their exact
distance computed. Every node stores its tight bounding box
(``box[node, 0] = lo``, ``box[node, 1] = hi``).

Queries
-------
Queries are the data points themselves, processed leaf block by leaf block in
tree order (consecutive queries share their neighbourhood in cache). Every
kernel here is serial, releases the GIL (``nogil=True``) and works on a range
of leaf blocks ``[t0, t1)``; :mod:`ibscope.neighbors._tree` runs chunks of
blocks on a pool of threads (no OpenMP spin-waiting, dynamic load balance).

* kNN (tree mode): depth-first, nearer child first; internal nodes are pruned
  on the distance to the split planes on the path (O(1) per node), leaves on
  their tight box, both against the current k-th distance.
* range count: the queries of a block walk the tree together (dual-tree
  style): a node is counted whole for all of them when, box against box, it
  lies within the smallest radius, skipped beyond the largest; at a leaf every
  query's box distances are computed in one vectorised loop and the query
  counts the leaf whole, skips it or scans it.
* "flat" mode (high dimension, where KD-tree pruning fails): the queries of a
  block visit every leaf together, so each candidate leaf is loaded into cache
  once per block; kNN visits leaves in XOR order from the own leaf slot
  (``own ^ m``, m = 0, 1, ...: the own leaf, its sibling, then cousins, i.e.
  nearest subtrees first) so the k-th distance tightens early; each leaf is
  pruned first for the whole block (box-to-box distance), then per query.
  Counts screen in float32 there (exact after a float64 check).

Metric codes: 0 = max-norm (Chebyshev), 1 = Euclidean (squares internally).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy", boundscheck=False)
#: helpers are inlined by LLVM (``alwaysinline``), not on numba's IR (``inline="always"``): the same
#: machine code at half the compile time, because numba then types and lowers each helper once instead
#: of once per call site (measured: 32 s -> 14 s for the kernels of a first KSG call; same speed after)
_INLINE = dict(_JIT, forceinline=True)

_INT_MAX = np.iinfo(np.int64).max


# --------------------------------------------------------------------------- build
@njit(**_JIT)
def _select(keys, idx, kth):
    """Quickselect on ``keys`` (``idx`` carried along): afterwards keys[kth] is the
    kth smallest and keys[:kth] <= keys[kth] <= keys[kth + 1:]."""
    lo = 0
    hi = len(keys) - 1
    while hi > lo:
        mid = (lo + hi) // 2
        a = keys[lo]
        b = keys[mid]
        c = keys[hi]
        if a < b:
            if b < c:
                pivot = b
            elif a < c:
                pivot = c
            else:
                pivot = a
        else:
            if a < c:
                pivot = a
            elif b < c:
                pivot = c
            else:
                pivot = b
        i = lo
        j = hi
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                tk = keys[i]
                keys[i] = keys[j]
                keys[j] = tk
                ti = idx[i]
                idx[i] = idx[j]
                idx[j] = ti
                i += 1
                j -= 1
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            return


@njit(**_JIT)
def build_init(data, width, with32):
    """Allocate a tree over ``data`` (n, d) with leaves of ``width`` points.

    Returns (blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax):
    ``blk`` (n_leaves, d, width) leaf blocks; ``blk32`` their float32 copy for
    screening when ``with32`` (else an empty dummy); ``amax`` the largest
    absolute coordinate; ``oid[p]`` original index of
    position p; node ``i`` holds positions ``nstart[i]:nend[i]``; internal node
    ``i`` splits on coordinate ``sdim[i]`` at ``sval[i]`` (left <= sval <= right);
    ``slot[t]`` is the node index of leaf block t. Only the node ranges and the
    root box are filled here; :func:`build_split` and :func:`build_leaves` do the rest.
    """
    n, d = data.shape
    n_leaves = (n + width - 1) // width
    depth = 0
    while (1 << depth) < n_leaves:
        depth += 1
    n_nodes = (1 << (depth + 1)) - 1
    n_internal = (1 << depth) - 1
    nstart = np.empty(n_nodes, np.int64)
    nend = np.empty(n_nodes, np.int64)
    nlv = np.empty(n_nodes, np.int64)
    nstart[0] = 0
    nend[0] = n
    nlv[0] = n_leaves
    for i in range(n_internal):
        s = nstart[i]
        e = nend[i]
        lv = nlv[i]
        left = (lv + 1) // 2
        m = min(e, s + left * width)
        nstart[2 * i + 1] = s
        nend[2 * i + 1] = m
        nlv[2 * i + 1] = left
        nstart[2 * i + 2] = m
        nend[2 * i + 2] = e
        nlv[2 * i + 2] = lv - left
    sdim = np.zeros(max(n_internal, 1), np.int64)
    sval = np.full(max(n_internal, 1), np.inf)
    box = np.empty((n_nodes, 2, d))
    for dd in range(d):
        vmin = np.inf
        vmax = -np.inf
        for j in range(n):
            v = data[j, dd]
            if v < vmin:
                vmin = v
            if v > vmax:
                vmax = v
        box[0, 0, dd] = vmin
        box[0, 1, dd] = vmax
    oid = np.arange(n)
    blk = np.empty((n_leaves, d, width))
    if with32:
        blk32 = np.empty((n_leaves, d, width), np.float32)
    else:
        blk32 = np.empty((0, 1, 1), np.float32)  # no float32 copy (never matches n_leaves >= 1)
    slot = np.empty(n_leaves, np.int64)
    amax = 0.0
    for dd in range(d):
        amax = max(amax, abs(box[0, 0, dd]), abs(box[0, 1, dd]))
    return blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax


@njit(**_JIT)
def build_split(data, oid, nstart, nend, box, sdim, sval, level_from, level_to, root_level, r0, r1):
    """Median splits of levels [level_from, level_to) inside the subtrees rooted at
    nodes r0..r1-1 of level ``root_level``. The split coordinate is the widest
    side of the node's loose box (the parent's box cut at the parent's split).

    ``data`` is a working copy of the points that is permuted in place along with
    ``oid`` (``data[p]`` is the point at tree position p)."""
    d = data.shape[1]
    # scratch buffers sized for the largest node, allocated once: many large
    # temporary allocations would page-fault and contend between threads
    big = 0
    span = 1 << (level_from - root_level)
    first = (1 << level_from) - 1 + r0 * span
    for node in range(first, first + (r1 - r0) * span):
        big = max(big, nend[node] - nstart[node])
    keys = np.empty(big)
    loc = np.empty(big, np.int64)
    tmp = np.empty((big, d))
    tmpo = np.empty(big, np.int64)
    for level in range(level_from, level_to):
        span = 1 << (level - root_level)
        first = (1 << level) - 1 + r0 * span
        for node in range(first, first + (r1 - r0) * span):
            s = nstart[node]
            e = nend[node]
            m = nstart[2 * node + 2]
            best = 0
            best_spread = -1.0
            for dd in range(d):
                spread = box[node, 1, dd] - box[node, 0, dd]
                if spread > best_spread:
                    best_spread = spread
                    best = dd
            split = np.inf
            if s < m < e:
                cnt = e - s
                for j in range(cnt):
                    keys[j] = data[s + j, best]
                    loc[j] = j
                _select(keys[:cnt], loc[:cnt], m - s)
                split = keys[m - s]
                # apply the partition to the rows (kept physically in tree order, so
                # deeper levels touch only their own, cache-resident, range)
                for j in range(cnt):
                    src = s + loc[j]
                    for dd in range(d):
                        tmp[j, dd] = data[src, dd]
                    tmpo[j] = oid[src]
                for j in range(cnt):
                    for dd in range(d):
                        data[s + j, dd] = tmp[j, dd]
                    oid[s + j] = tmpo[j]
            sdim[node] = best
            sval[node] = split
            c1 = 2 * node + 1
            c2 = c1 + 1
            for dd in range(d):
                box[c1, 0, dd] = box[node, 0, dd]
                box[c1, 1, dd] = box[node, 1, dd]
                box[c2, 0, dd] = box[node, 0, dd]
                box[c2, 1, dd] = box[node, 1, dd]
            if split < np.inf:
                box[c1, 1, best] = split
                box[c2, 0, best] = split


@njit(**_JIT)
def build_leaves(data, blk, blk32, oid, nstart, nend, box, slot, depth, root_level, r0, r1):
    """Fill the leaf blocks (NaN-padded) from the working copy ``data`` (in tree
    order after :func:`build_split`) and the tight boxes of the subtrees rooted
    at nodes r0..r1-1 of level ``root_level`` (bottom-up to that level)."""
    n_leaves, d, width = blk.shape
    n = oid.shape[0]
    with32 = blk32.shape[0] == n_leaves
    span = 1 << (depth - root_level)
    first = (1 << depth) - 1 + r0 * span
    for node in range(first, first + (r1 - r0) * span):
        s = nstart[node]
        e = nend[node]
        if e > s:
            t = s // width
            slot[t] = node
            for j in range(width):
                p = s + j
                if p < n:
                    for dd in range(d):
                        blk[t, dd, j] = data[p, dd]
                else:
                    for dd in range(d):
                        blk[t, dd, j] = np.nan
                if with32:
                    for dd in range(d):
                        blk32[t, dd, j] = np.float32(blk[t, dd, j])
        for dd in range(d):
            vmin = np.inf
            vmax = -np.inf
            for p in range(s, e):
                v = blk[s // width, dd, p - s]
                if v < vmin:
                    vmin = v
                if v > vmax:
                    vmax = v
            box[node, 0, dd] = vmin
            box[node, 1, dd] = vmax
    build_boxes(box, depth, root_level, r0, r1)


@njit(**_JIT)
def build_boxes(box, depth, root_level, r0, r1):
    """Tight boxes of the internal nodes at levels [root_level, depth) of the
    subtrees rooted at nodes r0..r1-1 of ``root_level``, from their children."""
    d = box.shape[2]
    for level in range(depth - 1, root_level - 1, -1):
        span = 1 << (level - root_level)
        first = (1 << level) - 1 + r0 * span
        for node in range(first, first + (r1 - r0) * span):
            c1 = 2 * node + 1
            c2 = c1 + 1
            for dd in range(d):
                box[node, 0, dd] = min(box[c1, 0, dd], box[c2, 0, dd])
                box[node, 1, dd] = max(box[c1, 1, dd], box[c2, 1, dd])


# --------------------------------------------------------------------------- box tests
@njit(**_INLINE)
def _box_min(Q, qi, box, node, metric):
    """Lower bound of the (squared, if Euclidean) distance from query Q[qi] to the
    node's box (branch-free; an empty box gives +inf)."""
    d = Q.shape[1]
    acc = 0.0
    for dd in range(d):
        a = box[node, 0, dd] - Q[qi, dd]
        b = Q[qi, dd] - box[node, 1, dd]
        g = a if a > b else b
        g = g if g > 0.0 else 0.0
        if metric == 0:
            acc = g if g > acc else acc
        else:
            acc += g * g
    return acc


@njit(**_INLINE)
def _box_box(box, u, v, metric):
    """(min, max) (squared, if Euclidean) distance between points of boxes u and v
    (monotone-consistent bounds for every pair of points)."""
    d = box.shape[2]
    mn = 0.0
    mx = 0.0
    for dd in range(d):
        a = box[v, 0, dd] - box[u, 1, dd]   # gap when v lies above u
        b = box[u, 0, dd] - box[v, 1, dd]   # gap when v lies below u
        g = a if a > b else b
        g = g if g > 0.0 else 0.0
        fa = box[v, 1, dd] - box[u, 0, dd]
        fb = box[u, 1, dd] - box[v, 0, dd]
        f = fa if fa > fb else fb
        if metric == 0:
            mn = g if g > mn else mn
            mx = f if f > mx else mx
        else:
            mn += g * g
            mx += f * f
    return mn, mx


@njit(**_INLINE)
def _sq_within(s, r, strict):
    """Exact test of sqrt(s) < r (strict) or sqrt(s) <= r, with s a sum of squares."""
    if r < 0.0:
        return False
    r2 = r * r
    if s < r2 * (1.0 - 1e-14):
        return True
    if s > r2 * (1.0 + 1e-14):
        return False
    v = np.sqrt(s)
    return v < r if strict else v <= r


@njit(**_INLINE)
def _within(acc, r, strict, metric):
    if metric == 0:
        return acc < r if strict else acc <= r
    return _sq_within(acc, r, strict)


@njit(**_INLINE)
def _point_dist(blk, t, j, Q, qi, metric):
    d = Q.shape[1]
    acc = 0.0
    for dd in range(d):
        g = blk[t, dd, j] - Q[qi, dd]
        if metric == 0:
            g = abs(g)
            acc = g if g > acc else acc
        else:
            acc += g * g
    return acc


# --------------------------------------------------------------------------- leaf screens
@njit(**_INLINE)
def _mx(a, b):
    """max(a, b) as one AVX max instruction (returns b when b is NaN)."""
    return a if a > b else b


@njit(**_INLINE)
def _count_cheb4(blk, t, Q, qi, bound):
    """Number of points of leaf t within max-norm distance ``bound`` of Q[qi] in
    up to four dimensions: one register-resident pass that stores nothing (a
    3-D query repeats its last coordinate, a 1-D one its only one; the maximum
    is unchanged). Measured 12 % faster for 4-D range counts than
    :func:`_screen_cheb`, whose stores to ``acc`` cost."""
    d = Q.shape[1]
    w = blk.shape[2]
    m = 0
    if d >= 3:
        c3 = d - 1
        q0 = Q[qi, 0]
        q1 = Q[qi, 1]
        q2 = Q[qi, 2]
        q3 = Q[qi, c3]
        for j in range(w):
            a = _mx(_mx(abs(blk[t, 0, j] - q0), abs(blk[t, 1, j] - q1)),
                    _mx(abs(blk[t, 2, j] - q2), abs(blk[t, c3, j] - q3)))
            m += 1 if a <= bound else 0
    else:
        c1 = d - 1
        q0 = Q[qi, 0]
        q1 = Q[qi, c1]
        for j in range(w):
            a = _mx(abs(blk[t, 0, j] - q0), abs(blk[t, c1, j] - q1))
            m += 1 if a <= bound else 0
    return m


@njit(**_INLINE)
def _screen_cheb(blk, t, Q, qi, bound, acc):
    """Max-norm distances from Q[qi] to the points of leaf t into ``acc`` and the
    number of them ``<= bound`` (callers turn ``< r`` into ``<= nextafter(r, -inf)``).

    The distances are exact (the maximum of the same ``|x_jd - q_d|`` as brute
    force). Four coordinates are fused per pass over the leaf, so the running
    maxima stay in registers (branch-free, AVX2 ``vmaxpd``); after each pass the
    scan stops with 0 if no point is within the bound any more (``acc`` then holds
    partial maxima, which callers ignore). In 5 to 8 dimensions one pass covers
    all coordinates (the last repeated up to eight; the maximum is unchanged):
    most scans of such leaves pass the first four anyway (80 % in the 4+4 KSG
    joint search), and the single pass was measured 5-10 % faster there. NaN
    padding propagates (every ``_mx`` takes the new value second) and never
    passes."""
    d = Q.shape[1]
    w = acc.shape[0]
    if 4 < d <= 8:
        c5 = min(5, d - 1)
        c6 = min(6, d - 1)
        c7 = d - 1
        q0 = Q[qi, 0]
        q1 = Q[qi, 1]
        q2 = Q[qi, 2]
        q3 = Q[qi, 3]
        q4 = Q[qi, 4]
        q5 = Q[qi, c5]
        q6 = Q[qi, c6]
        q7 = Q[qi, c7]
        m = 0
        for j in range(w):
            g01 = _mx(abs(blk[t, 0, j] - q0), abs(blk[t, 1, j] - q1))
            g23 = _mx(abs(blk[t, 2, j] - q2), abs(blk[t, 3, j] - q3))
            g45 = _mx(abs(blk[t, 4, j] - q4), abs(blk[t, c5, j] - q5))
            g67 = _mx(abs(blk[t, c6, j] - q6), abs(blk[t, c7, j] - q7))
            a = _mx(_mx(g01, g23), _mx(g45, g67))
            acc[j] = a
            m += 1 if a <= bound else 0
        return m
    for j in range(w):
        acc[j] = 0.0
    m = 0
    for c in range(0, d, 4):
        rem = d - c
        m = 0
        q0 = Q[qi, c]
        if rem >= 4:
            q1 = Q[qi, c + 1]
            q2 = Q[qi, c + 2]
            q3 = Q[qi, c + 3]
            for j in range(w):
                g01 = _mx(abs(blk[t, c, j] - q0), abs(blk[t, c + 1, j] - q1))
                g23 = _mx(abs(blk[t, c + 2, j] - q2), abs(blk[t, c + 3, j] - q3))
                a = _mx(_mx(acc[j], g01), g23)
                acc[j] = a
                m += 1 if a <= bound else 0
        elif rem == 3:
            q1 = Q[qi, c + 1]
            q2 = Q[qi, c + 2]
            for j in range(w):
                g01 = _mx(abs(blk[t, c, j] - q0), abs(blk[t, c + 1, j] - q1))
                a = _mx(_mx(acc[j], g01), abs(blk[t, c + 2, j] - q2))
                acc[j] = a
                m += 1 if a <= bound else 0
        elif rem == 2:
            q1 = Q[qi, c + 1]
            for j in range(w):
                a = _mx(acc[j], _mx(abs(blk[t, c, j] - q0), abs(blk[t, c + 1, j] - q1)))
                acc[j] = a
                m += 1 if a <= bound else 0
        else:
            for j in range(w):
                a = _mx(acc[j], abs(blk[t, c, j] - q0))
                acc[j] = a
                m += 1 if a <= bound else 0
        if m == 0:
            return 0
    return m


@njit(**_INLINE)
def _screen_cheb32(blk32, t, Q32, qi, thr, acc32, bits):
    """Float32 version of :func:`_screen_cheb` for flat mode (``blk32``, ``Q32``:
    float32 copies; ``thr`` from :func:`_thr32`): max-norm distances into
    ``acc32``, a superset of the qualifying points being those with
    ``acc32[j] <= thr``, to be confirmed in float64. Returns False when no point
    can qualify. Eight lanes per AVX2 instruction and half the memory traffic of
    float64; the early-exit test is an integer minimum over the bit patterns
    (``bits`` is ``acc32`` viewed as int32: non-negative floats order like their
    bits, NaN above everything), which vectorises where a count would not;
    ``acc32`` has one spare slot at the end for that conversion)."""
    d = Q32.shape[1]
    w = blk32.shape[2]
    acc32[w] = thr  # the spare last slot turns thr into its bit pattern
    tb = bits[w]
    for j in range(w):
        acc32[j] = 0.0
    for c in range(0, d, 4):
        rem = d - c
        q0 = Q32[qi, c]
        if rem >= 4:
            q1 = Q32[qi, c + 1]
            q2 = Q32[qi, c + 2]
            q3 = Q32[qi, c + 3]
            for j in range(w):
                g01 = _mx(abs(blk32[t, c, j] - q0), abs(blk32[t, c + 1, j] - q1))
                g23 = _mx(abs(blk32[t, c + 2, j] - q2), abs(blk32[t, c + 3, j] - q3))
                acc32[j] = _mx(_mx(acc32[j], g01), g23)
        else:
            for cc in range(c, d):
                qd = Q32[qi, cc]
                for j in range(w):
                    acc32[j] = _mx(acc32[j], abs(blk32[t, cc, j] - qd))
        low = np.int32(0x7FFFFFFF)
        for j in range(w):
            b = bits[j]
            low = b if b < low else low
        if low > tb:
            return False
    return True


#: float32 screening (flat mode) is used when the largest |coordinate| lies in this range
_F32_RANGE = (1e-20, 1e20)


@njit(**_INLINE)
def _thr32(bound, amax):
    """A float32 threshold t such that |fl64(x - q)| <= bound implies
    |fl32(fl32(x) - fl32(q))| <= t whenever |x|, |q| <= amax (conservative: the
    conversions and the float32 subtraction each err by at most 2^-24 relative)."""
    if not (bound < np.inf):
        return np.float32(np.inf)
    return np.float32(bound * (1.0 + 2.0 ** -21) + amax * 2.0 ** -21 + 1e-40)


@njit(**_INLINE)
def _point_within(blk, t, j, Q, qi, r, strict):
    """Exact max-norm test |x_j - q| < r (strict) or <= r, with early exit."""
    d = Q.shape[1]
    for dd in range(d):
        a = abs(blk[t, dd, j] - Q[qi, dd])
        if (a >= r) if strict else (a > r):
            return False
    return True


@njit(**_INLINE)
def _screen_sq(blk, t, Q, qi, bound, acc):
    """Squared Euclidean distances (ordered sums) from Q[qi] to the points of leaf
    t into ``acc`` and the number of them ``<= bound``; four coordinates per pass
    and early exit like :func:`_screen_cheb` (sums only grow)."""
    d = Q.shape[1]
    w = acc.shape[0]
    for j in range(w):
        acc[j] = 0.0
    m = 0
    for c in range(0, d, 4):
        rem = d - c
        m = 0
        q0 = Q[qi, c]
        if rem >= 4:
            q1 = Q[qi, c + 1]
            q2 = Q[qi, c + 2]
            q3 = Q[qi, c + 3]
            for j in range(w):
                x0 = blk[t, c, j] - q0
                x1 = blk[t, c + 1, j] - q1
                x2 = blk[t, c + 2, j] - q2
                x3 = blk[t, c + 3, j] - q3
                a = (((acc[j] + x0 * x0) + x1 * x1) + x2 * x2) + x3 * x3
                acc[j] = a
                m += 1 if a <= bound else 0
        else:
            for cc in range(c, d):
                qd = Q[qi, cc]
                for j in range(w):
                    x = blk[t, cc, j] - qd
                    acc[j] = acc[j] + x * x
            for j in range(w):
                m += 1 if acc[j] <= bound else 0
        if m == 0:
            return 0
    return m


# --------------------------------------------------------------------------- kNN
@njit(**_INLINE)
def _insert(HD, HP, HID, qi, dist, pos, ident):
    """Insert (dist, ident) into row qi of the sorted size-k lists (ties broken by
    the smaller original index, like a stable sort)."""
    a = HD.shape[1] - 1
    while a > 0 and (HD[qi, a - 1] > dist or (HD[qi, a - 1] == dist and HID[qi, a - 1] > ident)):
        HD[qi, a] = HD[qi, a - 1]
        HP[qi, a] = HP[qi, a - 1]
        HID[qi, a] = HID[qi, a - 1]
        a -= 1
    HD[qi, a] = dist
    HP[qi, a] = pos
    HID[qi, a] = ident


@njit(**_INLINE)
def _scan_leaf_knn(p, t, Q, qi, blk, oid, metric, HD, HP, HID, acc, blk32, Q32, acc32, bits, amax, use32):
    """Offer every point of leaf block t to the neighbour list of query Q[qi]
    (position p, which is skipped)."""
    k = HD.shape[1]
    w = acc.shape[0]
    worst = HD[qi, k - 1]
    base = t * w
    thr = np.float32(0.0)
    if metric == 0:
        if use32:
            thr = _thr32(worst, amax)
            m = 1 if _screen_cheb32(blk32, t, Q32, qi, thr, acc32, bits) else 0
        else:
            m = _screen_cheb(blk, t, Q, qi, worst, acc)
    else:
        m = _screen_sq(blk, t, Q, qi, worst, acc)
    if m == 0:
        return
    for j in range(w):
        if use32:
            if not acc32[j] <= thr:
                continue
            a = _point_dist(blk, t, j, Q, qi, 0)
        else:
            a = acc[j]
            if not a <= worst:
                continue
        pos = base + j
        if pos == p:
            continue
        ident = oid[pos]
        if a < worst or (a == worst and ident < HID[qi, k - 1]):
            _insert(HD, HP, HID, qi, a, pos, ident)
            worst = HD[qi, k - 1]


@njit(**_JIT)
def _knn_leaf(t, blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax, flat, metric, Q, Q32, HD, HP,
              HID, stack, acc, acc32, bits):
    """k nearest neighbours of every point of leaf block t (rows 0.. of HD/HP/HID).

    Tree mode: one depth-first search per query, nearer child first; internal
    nodes are pruned on the distance to the split planes on the path (O(1) per
    node: the max-norm distance to a node's region is the largest such plane
    distance), leaves on their tight box. Flat mode: the queries of the block
    visit every leaf together (XOR order), so each candidate leaf is loaded into
    cache once per block rather than once per query."""
    k = HD.shape[1]
    d = Q.shape[1]
    w = acc.shape[0]
    first_leaf = (1 << depth) - 1
    own = slot[t]
    p0 = nstart[own]
    nq = nend[own] - p0
    use32 = flat and metric == 0 and blk32.shape[0] == blk.shape[0] and _F32_RANGE[0] < amax < _F32_RANGE[1]
    for qi in range(nq):
        for dd in range(d):
            Q[qi, dd] = blk[t, dd, qi]
            if use32:
                Q32[qi, dd] = blk32[t, dd, qi]
        for a in range(k):
            HD[qi, a] = np.inf
            HP[qi, a] = -1
            HID[qi, a] = _INT_MAX
    if flat:
        u0 = own - first_leaf
        for m in range(1 << depth):
            leaf = first_leaf + (u0 ^ m)
            if nstart[leaf] == nend[leaf]:
                continue
            tc = nstart[leaf] // w
            if m > 0:
                far = 0.0
                for qi in range(nq):
                    far = HD[qi, k - 1] if HD[qi, k - 1] > far else far
                if _box_box(box, own, leaf, metric)[0] > far:
                    continue
            for qi in range(nq):
                if m > 0 and _box_min(Q, qi, box, leaf, metric) > HD[qi, k - 1]:
                    continue
                _scan_leaf_knn(p0 + qi, tc, Q, qi, blk, oid, metric, HD, HP, HID, acc, blk32, Q32, acc32, bits, amax,
                               use32)
        return
    stk_rd = np.empty(stack.shape[0])
    for qi in range(nq):
        sp = 1
        stack[0] = 0
        stk_rd[0] = 0.0
        while sp > 0:
            sp -= 1
            node = stack[sp]
            if stk_rd[sp] > HD[qi, k - 1]:
                continue
            if node >= first_leaf:
                if nstart[node] == nend[node]:
                    continue
                if node != own and _box_min(Q, qi, box, node, metric) > HD[qi, k - 1]:
                    continue
                _scan_leaf_knn(p0 + qi, nstart[node] // w, Q, qi, blk, oid, metric, HD, HP, HID, acc, blk32, Q32,
                               acc32, bits, amax, use32)
            else:
                rd = stk_rd[sp]
                c1 = 2 * node + 1
                diff = Q[qi, sdim[node]] - sval[node]
                if diff < 0.0:
                    g = -diff
                    far = c1 + 1
                    near = c1
                else:
                    g = diff
                    far = c1
                    near = c1 + 1
                # lower bound for the far side: max-norm distance to the split plane
                # (Euclidean: the larger of the parent's bound and the plane's square)
                if metric == 1:
                    g = g * g
                frd = g if g > rd else rd
                stack[sp] = far
                stk_rd[sp] = frd
                stack[sp + 1] = near
                stk_rd[sp + 1] = rd
                sp += 2


@njit(**_INLINE)
def _knn_scratch(w, d, k, depth):
    """Per-thread work arrays of the kNN leaf kernel for leaves of ``w`` points in ``d`` dims."""
    return (np.empty((w, d)), np.empty((w, d), np.float32), np.empty((w, k)), np.empty((w, k), np.int64),
            np.empty((w, k), np.int64), np.empty(2 * depth + 4, np.int64), np.empty(w), np.empty(w + 1, np.float32))


@njit(**_JIT)
def knn_range(blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax, k, metric, flat, dist, idx, t0, t1):
    """kNN of the points of leaf blocks t0..t1-1 into dist/idx (original rows and indices)."""
    n_leaves, d, w = blk.shape
    n = oid.shape[0]
    Q, Q32, HD, HP, HID, stack, acc, acc32 = _knn_scratch(w, d, k, depth)
    for t in range(t0, t1):
        _knn_leaf(t, blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax, flat, metric, Q, Q32, HD, HP,
                  HID, stack, acc, acc32, acc32.view(np.int32))
        p0 = t * w
        for qi in range(min(w, n - p0)):
            i = oid[p0 + qi]
            for a in range(k):
                dist[i, a] = np.sqrt(HD[qi, a]) if metric == 1 else HD[qi, a]
                idx[i, a] = HID[qi, a]


# --------------------------------------------------------------------------- range counts
@njit(**_INLINE)
def _scan_leaf_count(t, Q, qi, r, rb, strict, blk, metric, acc, blk32, Q32, acc32, bits, amax, use32):
    """Points of leaf block t within r of Q[qi]; ``rb`` is the max-norm bound of
    :func:`_le_bound` (``r`` itself when not strict). Max-norm counts in up to
    4-D call :func:`_count_cheb4` directly instead."""
    w = acc.shape[0]
    if metric == 0:
        if not use32:
            return _screen_cheb(blk, t, Q, qi, rb, acc)
        thr = _thr32(r, amax)
        if not _screen_cheb32(blk32, t, Q32, qi, thr, acc32, bits):
            return 0
        c = 0
        for j in range(w):
            if acc32[j] <= thr and _point_within(blk, t, j, Q, qi, r, strict):
                c += 1
        return c
    cut = r * r * (1.0 + 1e-14)  # squared sums above this are surely outside
    if _screen_sq(blk, t, Q, qi, cut, acc) == 0:
        return 0
    c = 0
    for j in range(w):
        if acc[j] <= cut and _sq_within(acc[j], r, strict):
            c += 1
    return c


@njit(**_INLINE)
def _le_bound(r, strict):
    """The bound b with (x < r) == (x <= b) for every float x when ``strict``."""
    return np.nextafter(r, -np.inf) if strict else r


@njit(**_JIT)
def _count_leaf(t, blk, blk32, nstart, nend, box, slot, depth, amax, flat, metric, R, strict, Q, QT, Q32, C, stack, acc,
                acc32, bits, MN, MX, RB):
    """Number of points within R[qi] of every point qi of leaf block t (into C,
    the point itself included when it qualifies).

    The block's queries walk the tree together (dual-tree style): a node whose
    box lies, against the block's box, within the smallest radius for every
    pair is counted whole for all queries; one beyond the largest radius is
    skipped; at a leaf, the min/max distances from every query to its box are
    computed in one vectorised loop over the queries (``QT``: the queries,
    coordinate-major), then each query counts the leaf whole, skips it or scans
    it. Measured 18 % faster for 4-D KSG marginal counts than one tree descent
    per query, whose pops and unpredictable branches cost more than the scans."""
    d = Q.shape[1]
    w = acc.shape[0]
    first_leaf = (1 << depth) - 1
    own = slot[t]
    nq = nend[own] - nstart[own]
    rmin = np.inf
    rmax = -np.inf
    use32 = flat and metric == 0 and blk32.shape[0] == blk.shape[0] and _F32_RANGE[0] < amax < _F32_RANGE[1]
    for qi in range(nq):
        for dd in range(d):
            v = blk[t, dd, qi]
            Q[qi, dd] = v
            QT[dd, qi] = v
            if use32:
                Q32[qi, dd] = blk32[t, dd, qi]
        C[qi] = 0
        r = R[qi]
        RB[qi] = _le_bound(r, strict)  # max-norm: x < r  <=>  x <= RB
        if r != r:
            rmin = -np.inf  # a NaN radius counts nothing: no node is inside every query's ball
        rmin = r if r < rmin else rmin
        rmax = r if r > rmax else rmax
    sp = 1
    stack[0] = 0
    while sp > 0:
        sp -= 1
        node = stack[sp]
        size = nend[node] - nstart[node]
        if size == 0:
            continue
        bmn, bmx = _box_box(box, own, node, metric)
        if not _within(bmn, rmax, strict, metric):
            continue
        if _within(bmx, rmin, strict, metric):
            for qi in range(nq):
                C[qi] += size
            continue
        if node < first_leaf:
            stack[sp] = 2 * node + 1
            stack[sp + 1] = 2 * node + 2
            sp += 2
            continue
        # per-query (min, max) distances to the leaf's box (branch-free, the operations of _box_box
        # with the query as a point box: monotone-consistent with the per-point distances)
        for qi in range(nq):
            MN[qi] = 0.0
            MX[qi] = 0.0
        for dd in range(d):
            lo = box[node, 0, dd]
            hi = box[node, 1, dd]
            if metric == 0:
                for qi in range(nq):
                    a = lo - QT[dd, qi]
                    b = hi - QT[dd, qi]
                    na = -a
                    nb = -b
                    MN[qi] = _mx(MN[qi], a if a > nb else nb)
                    MX[qi] = _mx(MX[qi], na if na > b else b)
            else:
                for qi in range(nq):
                    a = lo - QT[dd, qi]
                    b = hi - QT[dd, qi]
                    na = -a
                    nb = -b
                    g = a if a > nb else nb
                    g = g if g > 0.0 else 0.0
                    f = na if na > b else b
                    MN[qi] += g * g
                    MX[qi] += f * f
        tc = nstart[node] // w
        if metric == 0:
            for qi in range(nq):
                rb = RB[qi]
                if MN[qi] <= rb:
                    if MX[qi] <= rb:
                        C[qi] += size
                    else:
                        if d <= 4 and not use32:  # called here, not via _scan_leaf_count: measured 12-20 % faster
                            C[qi] += _count_cheb4(blk, tc, Q, qi, rb)
                        else:
                            C[qi] += _scan_leaf_count(tc, Q, qi, R[qi], rb, strict, blk, metric, acc, blk32, Q32, acc32,
                                                  bits, amax, use32)
            continue
        for qi in range(nq):
            r = R[qi]
            if not _within(MN[qi], r, strict, metric):
                continue
            if _within(MX[qi], r, strict, metric):
                C[qi] += size
            else:
                C[qi] += _scan_leaf_count(tc, Q, qi, r, r, strict, blk, metric, acc, blk32, Q32, acc32, bits, amax,
                                          use32)


@njit(**_JIT)
def count_range(blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax, radii, strict, metric, flat,
                counts, t0, t1):
    """Counts of other points within radii[i] of the points i of leaf blocks t0..t1-1."""
    n_leaves, d, w = blk.shape
    n = oid.shape[0]
    Q = np.empty((w, d))
    Q32 = np.empty((w, d), np.float32)
    R = np.empty(w)
    C = np.empty(w, np.int64)
    stack = np.empty(2 * depth + 4, np.int64)
    acc = np.empty(w)
    acc32 = np.empty(w + 1, np.float32)
    bits = acc32.view(np.int32)
    QT = np.empty((d, w))
    MN = np.empty(w)
    MX = np.empty(w)
    RB = np.empty(w)
    for t in range(t0, t1):
        p0 = t * w
        nq = min(w, n - p0)
        for qi in range(nq):
            R[qi] = radii[oid[p0 + qi]]
        _count_leaf(t, blk, blk32, nstart, nend, box, slot, depth, amax, flat, metric, R, strict, Q, QT, Q32, C, stack,
                    acc, acc32, bits, MN, MX, RB)
        for qi in range(nq):
            r = R[qi]
            self_in = (0.0 < r) if strict else (0.0 <= r)
            counts[oid[p0 + qi]] = C[qi] - (1 if self_in else 0)


@njit(**_JIT)
def count_sorted_range(s, order, radii, strict, counts, p0, p1):
    """Exact 1-D counts #{j != i : |v_j - v_i| < r_i} (or <=) for the points at
    sorted positions p0..p1-1, given the sorted column ``s = v[order]``: galloping
    search from each point's own position, with the predicate evaluated on the
    same rounded differences as brute force."""
    n = s.shape[0]
    for p in range(p0, p1):
        i = order[p]
        v = s[p]
        r = radii[i]
        if (strict and not (r > 0.0)) or (not strict and not (r >= 0.0)):
            counts[i] = 0  # no point, not even i itself, is within such a radius
            continue
        # upper end: a is inside, bnd is outside (or n)
        a = p
        step = 1
        bnd = p + 1
        while bnd < n:
            g = s[bnd] - v
            if (g < r) if strict else (g <= r):
                a = bnd
                step *= 2
                bnd = p + step
            else:
                break
        if bnd > n:
            bnd = n
        while bnd - a > 1:
            m = (a + bnd) // 2
            g = s[m] - v
            if (g < r) if strict else (g <= r):
                a = m
            else:
                bnd = m
        up = bnd
        a = p
        step = 1
        bnd = p - 1
        while bnd >= 0:
            g = v - s[bnd]
            if (g < r) if strict else (g <= r):
                a = bnd
                step *= 2
                bnd = p - step
            else:
                break
        if bnd < -1:
            bnd = -1
        while a - bnd > 1:
            m = (a + bnd) // 2
            g = v - s[m]
            if (g < r) if strict else (g <= r):
                a = m
            else:
                bnd = m
        counts[i] = up - bnd - 2


# --------------------------------------------------------------------------- fused KSG joint step
@njit(**_JIT)
def ksg_joint_range(blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax, k, dx, variant, flat, ex, ey,
                    t0, t1):
    """Joint max-norm kNN step of KSG for the points of leaf blocks t0..t1-1.

    variant 1: ex[i] = the k-th neighbour distance;
    variant 2: ex[i], ey[i] = the largest X- and Y-distances within the
    k-neighbour set (ties at the k-th distance go to the smaller index).
    """
    metric = variant - variant  # 0 = max-norm, as a run-time value (a literal 0 would compile a second _knn_leaf)
    n_leaves, d, w = blk.shape
    n = oid.shape[0]
    Q, Q32, HD, HP, HID, stack, acc, acc32 = _knn_scratch(w, d, k, depth)
    for t in range(t0, t1):
        _knn_leaf(t, blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax, flat, metric, Q, Q32, HD, HP,
                  HID, stack, acc, acc32, acc32.view(np.int32))
        p0 = t * w
        for qi in range(min(w, n - p0)):
            i = oid[p0 + qi]
            if variant == 1:
                ex[i] = HD[qi, k - 1]
            else:
                mx = 0.0
                my = 0.0
                for a in range(k):
                    tj = HP[qi, a] // w
                    jj = HP[qi, a] - tj * w
                    for dd in range(dx):
                        g = abs(blk[tj, dd, jj] - Q[qi, dd])
                        mx = g if g > mx else mx
                    for dd in range(dx, d):
                        g = abs(blk[tj, dd, jj] - Q[qi, dd])
                        my = g if g > my else my
                ex[i] = mx
                ey[i] = my
