"""Patrol beats (巡区): a station precinct partitioned into k contiguous beats built from its
grids, balancing workload and compactness in road travel time.

The algorithm (:func:`partition`) works on any units with an adjacency, a workload and a travel
time matrix; :func:`analyse` reads the grids of a station, their workload (incidents × handling
time, plus a patrol time per key facility) and the road times between their centres.

1. **Seeds**: farthest-first traversal in travel time from a first seed (the unit nearest to
   all, the busiest, then others at random: up to :data:`STARTS` starts share the time limit,
   the best objective is kept).
2. **Growth**: the beat with the least workload takes the frontier unit nearest its seed, until
   every unit has a beat; each beat is contiguous by construction.
3. **Local search**: a boundary unit moves to a neighbouring beat when the objective
   ``Σ_r (W_r / W̄ - 1)² + μ Σ_r (R_r / R̄)²`` falls (W workload, R the farthest time from the
   beat's centre) and its beat stays contiguous; the centres are re-chosen (the unit whose
   farthest time is least) after each pass; until no move improves or the time is up.
4. **Compound moves**, when single moves stop: the best of (a) a *chain* of up to
   :data:`CHAIN_UNITS` units of one beat, from a unit bordering a neighbouring beat and grown
   breadth-first into its own beat, moved to that neighbour; (b) a *recombination*: two
   neighbouring beats joined and cut anew in two; (c) a *merge and split*: two neighbouring
   beats joined and one of the busiest beats cut in two, which moves a beat from where the work
   is light to where it is heavy. Cuts are edges of random spanning trees (both sides
   connected). Then single moves again, until no move of either kind improves.

Always contiguous: every move is checked by a search of the beat it leaves. Units that no
adjacency joins (islands) are joined to their nearest unit by road first.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Weight of compactness against balance in the objective.
DEFAULT_MU = 0.2
#: Travel time standing for "unreachable" (s).
FAR_S = 7200.0
#: Starts of the growth and local search tried within the time limit.
STARTS = 8
#: The longest chain of units a compound move carries from one beat to its neighbour.
CHAIN_UNITS = 8
#: Random spanning trees whose edges are tried as the cuts of a beat in two.
SPANNING_TREES = 12
#: Cuts (nearest in workload) whose exact cost is computed.
CUTS_EVALUATED = 4
#: The busiest beats tried for the split of a merge-and-split move.
MERGE_SPLIT_BEATS = 3


@dataclass(frozen=True)
class Beats:
    """A partition into k beats and its figures."""

    labels: IntArray
    centres: IntArray
    workload: FloatArray
    farthest_s: FloatArray
    units: IntArray

    @property
    def imbalance(self) -> float:
        """max / mean workload (1 is perfect balance)."""
        mean = float(self.workload.mean())
        return float(self.workload.max() / mean) if mean > 0 else 1.0


def adjacency_lists(indptr: IntArray, indices: IntArray) -> list[list[int]]:
    return [indices[indptr[i] : indptr[i + 1]].tolist() for i in range(len(indptr) - 1)]


def components(
    adj: Sequence[Sequence[int]], members: Sequence[int] | None = None
) -> list[list[int]]:
    """Connected components of the units (of ``members`` only, when given)."""
    nodes = list(range(len(adj))) if members is None else list(members)
    allowed = set(nodes)
    seen: set[int] = set()
    out: list[list[int]] = []
    for start in nodes:
        if start in seen:
            continue
        part = [start]
        seen.add(start)
        queue = deque([start])
        while queue:
            u = queue.popleft()
            for v in adj[u]:
                if v in allowed and v not in seen:
                    seen.add(v)
                    part.append(v)
                    queue.append(v)
        out.append(part)
    return out


def join_islands(adj: list[list[int]], times: FloatArray) -> list[list[int]]:
    """Join the components by their nearest pair of units by road (a copy of ``adj``)."""
    adj = [list(a) for a in adj]
    parts = components(adj)
    while len(parts) > 1:
        base = parts[0]
        rest = [u for p in parts[1:] for u in p]
        sub = times[np.ix_(base, rest)]
        i, j = np.unravel_index(int(np.argmin(sub)), sub.shape)
        a, b = base[int(i)], rest[int(j)]
        adj[a].append(b)
        adj[b].append(a)
        parts = components(adj)
    return adj


def _radius(members: Sequence[int], times: FloatArray) -> tuple[int, float]:
    """The member whose farthest time to the others is least, and that time."""
    idx = np.asarray(members, dtype=np.int64)
    sub = times[np.ix_(idx, idx)]
    worst = sub.max(axis=1)
    best = int(np.argmin(worst))
    return int(idx[best]), float(worst[best])


def _connected_without(adj: Sequence[Sequence[int]], members: set[int], removed: int) -> bool:
    rest = members - {removed}
    if not rest:
        return False
    start = next(iter(rest))
    seen = {start}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if v in rest and v not in seen:
                seen.add(v)
                queue.append(v)
    return len(seen) == len(rest)


def partition(
    adj_in: Sequence[Sequence[int]],
    workload: FloatArray,
    times: FloatArray,
    k: int,
    *,
    mu: float = DEFAULT_MU,
    time_limit_s: float = 5.0,
    seed: int = 0,
    chains: bool = True,
) -> Beats:
    """Partition n units into ``k`` contiguous beats (see the module docstring).

    Parameters
    ----------
    adj_in : n lists of neighbouring units
    workload : array (n,), the work in each unit (hours a week)
    times : array (n, n), road time between units (s), symmetric; ``inf`` where unreachable
    k : int, 1 ≤ k ≤ n
    mu : weight of compactness in the objective
    time_limit_s : the local search stops then
    seed : order of the local search's moves
    chains : whether the local search tries compound moves (chains, recombinations, merge
        and split) once single moves stop improving (False: single moves only, as before)

    Returns
    -------
    Beats

    Notes
    -----
    Growth O(n² ) at most; each local-search pass O(n · (|beat| + degree)).
    """
    n = len(adj_in)
    if not 1 <= k <= n:
        raise ValueError(f"k={k} for {n} units")
    t = np.where(np.isfinite(times), times, FAR_S).astype(np.float64)
    t = np.maximum(t, t.T)
    np.fill_diagonal(t, 0.0)
    adj = join_islands([list(a) for a in adj_in], t)
    w = np.asarray(workload, dtype=np.float64)
    # several starts (the most central grid, the busiest, then others at random) share the
    # time limit; the best objective is kept
    deadline = time.perf_counter() + time_limit_s
    rng = np.random.default_rng(seed)
    firsts = [int(np.argmin(t.sum(axis=1))), int(np.argmax(w))]
    firsts += [int(i) for i in rng.permutation(n)[: max(0, min(n, STARTS) - 2)]]
    best_labels: IntArray | None = None
    best_cost = np.inf
    for attempt, first in enumerate(dict.fromkeys(firsts)):
        if attempt > 0 and time.perf_counter() >= deadline:
            break
        share = max(0.0, (deadline - time.perf_counter()) / max(1, len(firsts) - attempt))
        labels, total = _solve(
            adj, w, t, k, first=first, mu=mu, deadline=time.perf_counter() + share,
            seed=seed + attempt, chains=chains,
        )  # fmt: skip
        if total < best_cost - 1e-12:
            best_labels, best_cost = labels, total
    assert best_labels is not None
    return figures(best_labels, w, t, k)


def _solve(
    adj: list[list[int]],
    w: FloatArray,
    t: FloatArray,
    k: int,
    *,
    first: int,
    mu: float,
    deadline: float,
    seed: int,
    chains: bool = True,
) -> tuple[IntArray, float]:
    """Seeds from ``first``, growth and local search until ``deadline``: the labels and the
    objective."""
    n = len(adj)
    # 1. seeds: farthest-first from ``first``
    seeds = [first]
    nearest = t[first].copy()
    while len(seeds) < k:
        nxt = int(np.argmax(nearest))
        seeds.append(nxt)
        nearest = np.minimum(nearest, t[nxt])
    # 2. growth: the lightest beat takes its nearest frontier unit
    labels = np.full(n, -1, dtype=np.int64)
    load = np.zeros(k)
    members: list[set[int]] = [set() for _ in range(k)]
    for r, s in enumerate(seeds):
        labels[s] = r
        load[r] += w[s]
        members[r].add(s)
    stuck = np.zeros(k, dtype=bool)
    left = n - k
    while left > 0:
        order = np.argsort(np.where(stuck, np.inf, load), kind="stable")
        progressed = False
        for r in order.tolist():
            if stuck[r]:
                continue
            frontier = {v for u in members[r] for v in adj[u] if labels[v] < 0}
            if not frontier:
                stuck[r] = True
                continue
            v = min(frontier, key=lambda x: (t[seeds[r], x], x))
            labels[v] = r
            load[r] += w[v]
            members[r].add(v)
            left -= 1
            progressed = True
            break
        if not progressed:  # cannot happen on a connected graph
            raise RuntimeError("growth stalled")
    # 3. local search: single moves until none improves, then one compound move (a chain of
    # grids, a recombination of two beats, or a merge of two and a split of a third), again
    state = _State(adj, w, t, labels, members, mu=mu, k=k)
    rng = np.random.default_rng(seed)
    while time.perf_counter() < deadline:
        state.single_moves(rng, deadline)
        if not chains or time.perf_counter() >= deadline:
            break
        if not state.compound_move(rng, deadline):
            break
    return state.labels, state.total()


class _State:
    """The beats during the local search: labels, members, workload, centre and farthest time
    per beat, and the objective ``Σ_r (W_r / W̄ - 1)² + μ Σ_r (R_r / R̄)²``."""

    def __init__(
        self,
        adj: list[list[int]],
        w: FloatArray,
        t: FloatArray,
        labels: IntArray,
        members: list[set[int]],
        *,
        mu: float,
        k: int,
    ) -> None:
        self.adj, self.w, self.t, self.labels, self.members = adj, w, t, labels, members
        self.mu, self.k, self.n = mu, k, len(adj)
        self.load = np.array([float(w[list(m)].sum()) for m in members])
        self.centres = [_radius(list(m), t)[0] for m in members]
        self.radius = np.array([t[self.centres[r], list(members[r])].max() for r in range(k)])
        self.mean_w = float(w.sum() / k) or 1.0
        radius = self.radius
        self.ref_r = float(np.median(radius[radius > 0])) if (radius > 0).any() else 1.0

    def cost(self, load_r: float, radius_r: float) -> float:
        return (load_r / self.mean_w - 1.0) ** 2 + self.mu * (radius_r / self.ref_r) ** 2

    def total(self) -> float:
        return float(sum(self.cost(self.load[r], self.radius[r]) for r in range(self.k)))

    def set_cost(self, units: Sequence[int]) -> float:
        """The cost of a beat of ``units`` (its centre re-chosen)."""
        return self.cost(float(self.w[list(units)].sum()), _radius(units, self.t)[1])

    def assign(self, r: int, units: set[int]) -> None:
        """Beat ``r`` becomes ``units`` (its labels, workload, centre and farthest time)."""
        self.members[r] = set(units)
        for u in units:
            self.labels[u] = r
        self.load[r] = float(self.w[list(units)].sum())
        self.centres[r], self.radius[r] = _radius(list(units), self.t)

    # --- single moves ---------------------------------------------------------------------

    def single_moves(self, rng: np.random.Generator, deadline: float) -> None:
        """Move one boundary unit at a time to a neighbouring beat while the objective falls
        and the beat it leaves stays connected; the centres re-chosen after each pass."""
        adj, w, t, labels, members = self.adj, self.w, self.t, self.labels, self.members
        load, centres, radius, cost = self.load, self.centres, self.radius, self.cost
        improved = True
        while improved and time.perf_counter() < deadline:
            improved = False
            boundary = [u for u in range(self.n) if any(labels[v] != labels[u] for v in adj[u])]
            rng.shuffle(boundary)
            for u in boundary:
                if time.perf_counter() >= deadline:
                    break
                a = int(labels[u])
                if len(members[a]) == 1:
                    continue
                targets = {int(labels[v]) for v in adj[u]} - {a}
                if not targets:
                    continue
                rest_a = [m for m in members[a] if m != u]
                new_radius_a = float(t[centres[a], rest_a].max()) if centres[a] != u else np.inf
                if not np.isfinite(new_radius_a):
                    new_radius_a = _radius(rest_a, t)[1]
                best_gain, best_b = 1e-12, -1
                for b in targets:
                    new_radius_b = max(radius[b], float(t[centres[b], u]))
                    before = cost(load[a], radius[a]) + cost(load[b], radius[b])
                    after = cost(load[a] - w[u], new_radius_a) + cost(load[b] + w[u], new_radius_b)
                    if before - after > best_gain:
                        best_gain, best_b = before - after, b
                if best_b < 0 or not _connected_without(adj, members[a], u):
                    continue
                b = best_b
                members[a].discard(u)
                members[b].add(u)
                labels[u] = b
                load[a] -= w[u]
                load[b] += w[u]
                if centres[a] == u:
                    centres[a] = _radius(list(members[a]), t)[0]
                radius[a] = float(t[centres[a], list(members[a])].max())
                radius[b] = max(radius[b], float(t[centres[b], u]))
                improved = True
            for r in range(self.k):
                centres[r], radius[r] = _radius(list(members[r]), t)

    # --- compound moves -------------------------------------------------------------------

    def neighbours(self) -> set[tuple[int, int]]:
        """Pairs of beats (a < b) that share a boundary."""
        out: set[tuple[int, int]] = set()
        for u in range(self.n):
            for v in self.adj[u]:
                a, b = int(self.labels[u]), int(self.labels[v])
                if a != b:
                    out.add((min(a, b), max(a, b)))
        return out

    def compound_move(self, rng: np.random.Generator, deadline: float) -> bool:
        """The best improving compound move, applied; False when none improves.

        - *chain*: a connected chain of units of beat a, starting at a unit bordering beat b
          and grown breadth-first into a, moves to b (a stays connected);
        - *recombination*: two neighbouring beats are joined and cut anew in two;
        - *merge and split*: two neighbouring beats are joined into one and a third beat is
          cut in two, so that the busiest part of the precinct gets one beat more.

        Cuts are the edges of random spanning trees of the beat (each cut leaves two connected
        parts). Every part is connected by construction."""
        current = [self.cost(self.load[r], self.radius[r]) for r in range(self.k)]
        best_gain = 1e-9
        best: list[tuple[int, set[int]]] | None = None
        pairs = sorted(self.neighbours())
        # chains of units from one beat to its neighbour
        for a, b in [(a0, b0) for a0, b0 in pairs] + [(b0, a0) for a0, b0 in pairs]:
            if time.perf_counter() >= deadline:
                break
            for chain in self._chains(a, b):
                rest = self.members[a] - chain
                gained = self.members[b] | chain
                after = self.set_cost(list(rest)) + self.set_cost(list(gained))
                gain = current[a] + current[b] - after
                if gain > best_gain:
                    best_gain, best = gain, [(a, rest), (b, gained)]
        # two neighbouring beats joined: cut anew, or a third beat cut in two
        order = np.argsort(-np.asarray(current), kind="stable").tolist()
        splits: dict[int, tuple[float, set[int], set[int]] | None] = {}
        for a, b in pairs:
            if time.perf_counter() >= deadline:
                break
            joined = self.members[a] | self.members[b]
            split = self._best_cut(joined, rng)
            if split is not None:
                gain = current[a] + current[b] - split[0]
                if gain > best_gain:
                    best_gain, best = gain, [(a, split[1]), (b, split[2])]
            joined_cost = self.set_cost(list(joined))
            for c in order[:MERGE_SPLIT_BEATS]:
                if c in (a, b) or len(self.members[c]) < 2:
                    continue
                if c not in splits:
                    splits[c] = self._best_cut(self.members[c], rng)
                split = splits[c]
                if split is None:
                    continue
                gain = current[a] + current[b] + current[c] - joined_cost - split[0]
                if gain > best_gain:
                    best_gain, best = gain, [(a, joined), (b, split[1]), (c, split[2])]
        if best is None:
            return False
        for r, units in best:
            self.assign(r, units)
        return True

    def _chains(self, a: int, b: int) -> list[set[int]]:
        """Chains of 2 to :data:`CHAIN_UNITS` units of beat ``a`` that may move to ``b``: from
        each unit of a bordering b, the first units of a breadth-first walk into a (each
        prefix connected, and touching b); those leaving a connected and not empty."""
        members = self.members[a]
        if len(members) < 3:
            return []
        out: list[set[int]] = []
        starts = sorted(u for u in members if any(self.labels[v] == b for v in self.adj[u]))
        for start in starts:
            walk = [start]
            seen = {start}
            queue = deque([start])
            while queue and len(walk) < min(CHAIN_UNITS, len(members) - 1):
                u = queue.popleft()
                for v in sorted(self.adj[u], key=lambda x: (-self.w[x], x)):
                    if v in members and v not in seen:
                        seen.add(v)
                        walk.append(v)
                        queue.append(v)
                        if len(walk) >= min(CHAIN_UNITS, len(members) - 1):
                            break
            for size in range(2, len(walk) + 1):
                chain = set(walk[:size])
                rest = members - chain
                if rest and len(components(self.adj, sorted(rest))) == 1:
                    out.append(chain)
        return out

    def _best_cut(
        self, units: set[int], rng: np.random.Generator
    ) -> tuple[float, set[int], set[int]] | None:
        """The best cut of ``units`` (connected) in two connected parts: over the edges of
        :data:`SPANNING_TREES` random spanning trees, the cuts whose workloads are nearest
        the objective's, then their exact cost (farthest times included). Returns the cost of
        the two parts and the parts."""
        members = sorted(units)
        if len(members) < 2:
            return None
        inside = set(members)
        trees: list[tuple[dict[int, int], list[int]]] = []
        guesses: list[tuple[float, int, int]] = []  # (balance only, tree, unit cut above)
        for tree in range(SPANNING_TREES):
            parent, order = _random_spanning_tree(self.adj, members, inside, rng)
            trees.append((parent, order))
            below = {u: float(self.w[u]) for u in members}
            for u in reversed(order[1:]):
                below[parent[u]] += below[u]
            total = below[order[0]]
            for u in order[1:]:
                load_below = below[u]
                guess = self.cost(load_below, 0.0) + self.cost(total - load_below, 0.0)
                guesses.append((guess, tree, u))
        guesses.sort()
        best: tuple[float, set[int], set[int]] | None = None
        tried: set[frozenset[int]] = set()
        for _, tree, u in guesses:
            if len(tried) >= CUTS_EVALUATED:
                break
            one = _subtree(u, *trees[tree])
            if frozenset(one) in tried:
                continue
            tried.add(frozenset(one))
            two = inside - one
            value = self.set_cost(sorted(one)) + self.set_cost(sorted(two))
            if best is None or value < best[0]:
                best = (value, one, two)
        return best


def _random_spanning_tree(
    adj: list[list[int]], members: list[int], inside: set[int], rng: np.random.Generator
) -> tuple[dict[int, int], list[int]]:
    """A random spanning tree of ``members`` (connected in ``adj``): a randomised
    breadth-first walk from a random unit. Returns each unit's parent and the walk's order."""
    root = members[int(rng.integers(len(members)))]
    parent = {root: root}
    order = [root]
    frontier = [root]
    while frontier:
        u = frontier.pop(int(rng.integers(len(frontier))))
        for v in adj[u]:
            if v in inside and v not in parent:
                parent[v] = u
                order.append(v)
                frontier.append(v)
    return parent, order


def _subtree(u: int, parent: dict[int, int], order: list[int]) -> set[int]:
    """The units below ``u`` in the tree (``u`` included): a parent comes before its children
    in ``order``."""
    out = {u}
    for v in order[order.index(u) + 1 :]:
        if parent[v] in out:
            out.add(v)
    return out


def figures(labels: IntArray, workload: FloatArray, times: FloatArray, k: int) -> Beats:
    """Workload, centre (least farthest time) and farthest time of each beat of ``labels``."""
    t = np.where(np.isfinite(times), times, FAR_S)
    t = np.maximum(t, t.T)
    load = np.zeros(k)
    centres = np.zeros(k, dtype=np.int64)
    farthest = np.zeros(k)
    counts = np.zeros(k, dtype=np.int64)
    for r in range(k):
        idx = np.flatnonzero(labels == r)
        counts[r] = idx.size
        if idx.size == 0:
            continue
        load[r] = float(workload[idx].sum())
        centres[r], farthest[r] = _radius(idx.tolist(), t)
    return Beats(np.asarray(labels, dtype=np.int64), centres, load, farthest, counts)


def contiguous(adj: Sequence[Sequence[int]], labels: IntArray) -> bool:
    """Whether every beat of ``labels`` is one connected piece of ``adj``."""
    for r in np.unique(labels).tolist():
        members = np.flatnonzero(labels == r).tolist()
        if len(components(adj, members)) != 1:
            return False
    return True
