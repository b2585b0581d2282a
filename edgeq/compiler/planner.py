"""Static memory planner: activation buffers + per-op kernel scratch -> offsets in one static arena.

The compiler builds the requests from the lowered graph (:func:`edgeq.compiler.lower.buffer_requests`: tensor
lifetimes over the execution order, RESHAPE aliases, the in-place candidates each layer offers) and plans them::

    reqs = [BufferReq(name, size, first, last, alias_of=None, inplace_of=None, align=16), ...]
    plan = plan_memory(reqs, scratch)          # scratch[i] = kernel scratch bytes op i needs (len = num ops)
    plan.offsets[name]                         # byte offset of every buffer inside the arena
    plan.scratch_offsets[i]                    # byte offset of op i's scratch (None if it needs none)
    plan.arena_bytes, plan.scratch_bytes, plan.ram_bytes, plan.per_layer, plan.op_order_bound, plan.inplace

* Lifetimes are inclusive op indices: ``first`` = op that writes the buffer (graph inputs: 0 or -1), ``last`` = op
  that reads it last (graph outputs: ``num_ops``). Two buffers whose [first, last] intersect never overlap.
* ``alias_of`` (RESHAPE and friends): the buffer *is* that buffer (same offset); a chain of aliases is one memory
  block whose lifetime is the union of its members'.
* ``inplace_of``: the buffer may start at exactly that input's offset, and is put there when that is legal (the
  input's - or its alias group's - last use is this buffer's ``first``) and it pays off. Whether the kernel really
  supports it (elementwise ADD/MUL, depthwise stride 1 / ch_mult 1 with a row buffer, ...) is the caller's call; a
  request that is not legal is ignored, never an error. ``plan.inplace`` lists the pairs actually taken.
* Scratch lives in the same static array. Two layouts are tried, the smaller RAM wins: one region of
  ``max(scratch)`` bytes right after the activations (``scratch_offsets[i] == arena_bytes``), or one block per op
  packed with the activations (usually in a hole: zero extra RAM). Always: ``arena_bytes`` = extent of the
  activations (16-aligned), ``scratch_bytes`` = what scratch adds, ``ram_bytes = arena_bytes + scratch_bytes`` =
  the size of the one array to emit - exactly ``EDGEQ_RAM_BYTES = EDGEQ_ARENA_BYTES + EDGEQ_SCRATCH_BYTES`` of
  docs/contracts.md. Give op i ``&arena[plan.scratch_offsets[i]]`` (not ``&arena[ARENA_BYTES]``).
* ``op_order_bound(reqs)``: the most bytes live at any op, the bound no plan can beat without in-place layers
  (KWS 16000, IC 49152, VWW 55296, AD 768, str_ww 6656, ResNet-large 122880).

Algorithm: greedy placement (TFLM's "greedy by size", generalised) run over several orderings - size, size then
lifetime, lifetime, size x lifetime, first use, last use, plus seeded random perturbations of the size order - each
with best-fit and first-fit gap search; the smallest RAM wins (ties: the first found). In-place pairs are searched
only when they can beat the plain plan. The search stops as soon as it reaches the lower bound (max live bytes at
any op, plus scratch).
Deterministic: same requests -> same plan. Pure Python, no numpy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from edgeq.errors import EdgeqError

__all__ = [
    "BufferReq",
    "MemoryPlan",
    "plan_memory",
    "op_order_bound",
    "inplace_bound",
]

@dataclass(frozen=True)
class BufferReq:
    name: str
    size: int
    first: int  # op index that writes it first (graph inputs: 0 or -1)
    last: int  # op index that reads it last (graph outputs: num_ops)
    alias_of: str | None = None  # shares this buffer's memory (RESHAPE); the lifetimes merge
    inplace_of: str | None = None  # may take exactly this input's memory if its last use is `first`
    align: int = 16


@dataclass
class MemoryPlan:
    offsets: dict[str, int]
    arena_bytes: int  # extent of the activations (rounded up to 16)
    scratch_bytes: int  # what kernel scratch adds on top: ram_bytes - arena_bytes (0 when it fits in holes)
    scratch_offset: int  # == arena_bytes (the "after" region); per-op truth: scratch_offsets
    per_layer: list[dict]  # one entry per op: {"op", "live_bytes", "high_water", "scratch"}
    op_order_bound: int  # max over ops of live activation bytes (aliases once, no in-place)
    inplace: list[tuple[str, str]] = field(default_factory=list)  # (buffer, input whose memory it took)
    strategy: str = ""  # which ordering / fit won
    lower_bound: int = 0  # op_order_bound with the honoured in-place pairs counted once
    scratch_offsets: list = field(default_factory=list)  # per op: offset of its scratch in the arena, or None
    scratch_layout: str = "after"  # "after": one region at arena_bytes; "packed": per-op blocks, see plan_memory
    max_scratch: int = 0  # the largest scratch any op asked for
    #: the compiler's op-order bound (:func:`inplace_bound` with the in-place methods the kernels allow): no plan of
    #: this op order needs less RAM; 0 when not computed
    bound: int = 0
    #: per op: the bound's cost of that op (its bytes live at once, in place where that is cheaper)
    bound_per_op: list = field(default_factory=list)
    #: what the compiler chose between the in-place variants it planned (see edgeq.compiler._plan)
    inplace_choice: str = ""
    #: RAM of every in-place variant the compiler planned (label -> ram_bytes); the kept plan is the least
    inplace_variants: dict = field(default_factory=dict)

    @property
    def ram_bytes(self) -> int:
        return self.arena_bytes + self.scratch_bytes

    def to_dict(self) -> dict:
        return {
            "arena_bytes": self.arena_bytes,
            "scratch_bytes": self.scratch_bytes,
            "scratch_offset": self.scratch_offset,
            "scratch_offsets": list(self.scratch_offsets),
            "scratch_layout": self.scratch_layout,
            "max_scratch": self.max_scratch,
            "ram_bytes": self.ram_bytes,
            "op_order_bound": self.op_order_bound,
            "lower_bound": self.lower_bound,
            "bound": self.bound,
            "inplace_choice": self.inplace_choice,
            "strategy": self.strategy,
            "offsets": dict(self.offsets),
            "inplace": [list(p) for p in self.inplace],
            "per_layer": [dict(d) for d in self.per_layer],
        }


# --------------------------------------------------------------------------------------------------------------
# internal: alias groups ("blocks": one block = one piece of memory)


@dataclass
class _Block:
    root: str
    members: list[str]
    size: int
    first: int
    last: int
    align: int
    inplace_of: str | None = None  # root of the block this one may sit on


def _align_up(x: int, a: int) -> int:
    return -(-x // a) * a


def _check(reqs: Sequence[BufferReq]) -> dict[str, BufferReq]:
    by_name: dict[str, BufferReq] = {}
    for r in reqs:
        if r.name in by_name:
            raise EdgeqError(f"buffer {r.name!r} is requested twice", where="memory planner")
        if r.size < 0:
            raise EdgeqError(f"buffer {r.name!r} has a negative size {r.size}", where="memory planner")
        if r.last < r.first:
            raise EdgeqError(f"buffer {r.name!r} is read (op {r.last}) before it is written (op {r.first})",
                             where="memory planner")
        if r.align <= 0 or r.align & (r.align - 1):
            raise EdgeqError(f"buffer {r.name!r}: alignment {r.align} is not a power of two", where="memory planner")
        by_name[r.name] = r
    for r in reqs:
        for ref in (r.alias_of, r.inplace_of):
            if ref is not None and ref not in by_name:
                raise EdgeqError(f"buffer {r.name!r} refers to unknown buffer {ref!r}", where="memory planner")
    return by_name


def _root(name: str, by_name: dict[str, BufferReq]) -> str:
    seen = set()
    while by_name[name].alias_of is not None:
        if name in seen:
            raise EdgeqError(f"alias cycle through buffer {name!r}", where="memory planner")
        seen.add(name)
        name = by_name[name].alias_of  # type: ignore[assignment]
    return name


def _blocks(reqs: Sequence[BufferReq]) -> tuple[dict[str, _Block], dict[str, str]]:
    by_name = _check(reqs)
    root_of = {r.name: _root(r.name, by_name) for r in reqs}
    blocks: dict[str, _Block] = {}
    for r in reqs:  # keep request order (determinism)
        root = root_of[r.name]
        b = blocks.get(root)
        if b is None:
            blocks[root] = _Block(root, [r.name], r.size, r.first, r.last, r.align)
        else:
            b.members.append(r.name)
            b.size = max(b.size, r.size)
            b.first = min(b.first, r.first)
            b.last = max(b.last, r.last)
            b.align = max(b.align, r.align)
    # in-place: legal only when the input's block dies exactly where this block is born, and this block is the one
    # born there (an alias member's in-place request counts for its whole block only if it is the block's writer)
    for r in reqs:
        if r.inplace_of is None:
            continue
        b = blocks[root_of[r.name]]
        target = root_of[r.inplace_of]
        if target == b.root or r.first != b.first:
            continue
        t = blocks[target]
        if t.last == b.first and t.first <= b.first and b.inplace_of is None:
            b.inplace_of = target
    return blocks, root_of


def _live_profile(blocks: Iterable[_Block], merged: dict[str, str] | None = None) -> dict[int, int]:
    """time -> live bytes. ``merged`` maps a block to the block whose memory it shares (counted once: max size)."""
    live: dict[int, int] = {}
    blocks = list(blocks)
    by_root = {b.root: b for b in blocks}
    for b in blocks:
        for t in range(b.first, b.last + 1):
            live[t] = live.get(t, 0) + b.size
    for child, parent in (merged or {}).items():
        c, p = by_root[child], by_root[parent]
        t = c.first  # == p.last: the only instant both live
        live[t] -= min(c.size, p.size)
    return live


def op_order_bound(reqs: Sequence[BufferReq]) -> int:
    """Max over ops of the bytes of the buffers live at that op (alias groups once, no in-place, no alignment)."""
    blocks, _ = _blocks(reqs)
    prof = _live_profile(blocks.values())
    return max(prof.values(), default=0)


def inplace_bound(reqs: Sequence[BufferReq], scratch: Sequence[int] = (),
                  inplace_work: dict[str, int] | None = None) -> tuple[int, list[int]]:
    """The least RAM any plan of these requests can have for this op order: (bound, per-op bound).

    At op i, every buffer live at i (alias groups once) occupies its own bytes, rounded up to the smallest alignment
    m among them (at most 16: whatever follows a buffer - another buffer, the 16-aligned end of the arena, a 16-aligned
    scratch block - starts on a multiple of m), plus the op's kernel scratch ``scratch[i]``. The
    one exception is the op's in-place pair (a buffer born at i with a legal ``inplace_of``, see :func:`plan_memory`):
    output and input may then share max(output, input) bytes, and the kernel's working buffer becomes
    ``max(scratch[i], inplace_work[output])`` (delay ring or channel plane; 0 when absent). The op costs the cheaper
    of the two (several in-place outputs at one op: every parent's best saving, the smallest working buffer). Every plan :func:`plan_memory` makes is at least this, op by op, so ``ram_bytes >= bound``."""
    blocks, root_of = _blocks(reqs)
    work = {root_of[n]: int(v) for n, v in (inplace_work or {}).items()}
    scratch = [int(x) for x in scratch]
    n = max(len(scratch), max((b.last + 1 for b in blocks.values()), default=0))
    per_op = []
    for i in range(n):
        live = [b for b in blocks.values() if b.first <= i <= b.last and b.size]
        s = scratch[i] if i < len(scratch) else 0
        m = min([b.align for b in live] + [16])  # what follows a buffer starts on a multiple of m, as does the end
        plain = sum(_align_up(b.size, m) for b in live) + s
        saving: dict[str, int] = {}  # parent -> the most one of its in-place children saves on it
        works = []
        for b in live:
            if b.first == i and b.inplace_of is not None:
                parent = blocks[b.inplace_of]
                if parent.last == i and parent.size:
                    a, c = _align_up(b.size, m), _align_up(parent.size, m)
                    saving[parent.root] = max(saving.get(parent.root, 0), min(a, c))
                    works.append(work.get(b.root, 0))
        best = plain
        if saving:  # (an op writes one in-place output in practice; several are bounded by their best case)
            best = min(plain, plain - sum(saving.values()) + max(0, min(works) - s))
        per_op.append(best)
    return max(per_op, default=0), per_op


# --------------------------------------------------------------------------------------------------------------
# greedy placement


def _overlap_t(a: _Block, b: _Block) -> bool:
    return a.first <= b.last and b.first <= a.last


def _place(order: Sequence[_Block], use_inplace: bool, best_fit: bool) -> tuple[dict[str, int], int, list]:
    placed: list[tuple[_Block, int]] = []
    offsets: dict[str, int] = {}
    taken: list[tuple[str, str]] = []
    top = 0
    for b in order:
        if b.size == 0:
            offsets[b.root] = 0
            continue
        conflicts = [(p, o) for p, o in placed if p.size and _overlap_t(p, b)]
        off = None
        if use_inplace:
            # in-place: take exactly the partner's offset if nothing else is in the way. The partner is the input
            # this block may overwrite, or (placed first) a block that may overwrite this one.
            for p, o in conflicts:
                if b.inplace_of == p.root or p.inplace_of == b.root:
                    if o % b.align == 0 and all(q is p or oq + q.size <= o or oq >= o + b.size
                                                for q, oq in conflicts):
                        off = o
                        taken.append((b.root, p.root) if b.inplace_of == p.root else (p.root, b.root))
                        break
        if off is None:
            best = None  # (gap waste, offset)
            cur = 0
            for s, e in sorted((o, o + p.size) for p, o in conflicts):
                cand = _align_up(cur, b.align)
                if cand + b.size <= s:
                    waste = s - cand - b.size
                    if not best_fit:
                        best = (0, cand)
                        break
                    if best is None or waste < best[0]:
                        best = (waste, cand)
                cur = max(cur, e)
            if best is None:
                best = (0, _align_up(cur, b.align))
            off = best[1]
        offsets[b.root] = off
        placed.append((b, off))
        top = max(top, off + b.size)
    return offsets, top, taken


def _orderings(blocks: list[_Block], seed_tries: int) -> list[tuple[str, list[_Block]]]:
    def length(b: _Block) -> int:
        return b.last - b.first + 1

    keys: list[tuple[str, Callable[[_Block], tuple]]] = [
        ("size", lambda b: (-b.size, b.first, -length(b))),
        ("size-lifetime", lambda b: (-b.size, -length(b), b.first)),
        ("lifetime", lambda b: (-length(b), -b.size, b.first)),
        ("area", lambda b: (-b.size * length(b), b.first)),
        ("first-use", lambda b: (b.first, -b.size)),
        ("last-use", lambda b: (-b.last, -b.size)),
    ]
    out = [(name, sorted(blocks, key=key)) for name, key in keys]
    rng = random.Random(0x5EED)
    for i in range(seed_tries):  # size-descending with random tie-breaks / small random perturbations
        jitter = {b.root: rng.random() for b in blocks}
        bias = rng.choice((0.0, 0.15, 0.35))
        out.append((f"size~{i}", sorted(blocks, key=lambda b: (-b.size * (1.0 + bias * jitter[b.root]),
                                                               jitter[b.root]))))
    return out


SCRATCH_PREFIX = "__scratch@"


def plan_memory(reqs: list[BufferReq], scratch: Sequence[int] = (), *, tries: int = 24) -> MemoryPlan:
    """Place every buffer and the kernel scratch; see the module docstring. ``tries`` = extra randomised orderings.

    Two scratch layouts are tried and the smaller total RAM is kept (ties: the first):
    ``"after"`` - one region of max(scratch) bytes right after the activations (every op's scratch at
    ``arena_bytes``); ``"packed"`` - each op's scratch is a block live at that op only, packed with the activations
    (it often fits in a hole: a big im2col buffer next to small tensors). Either way ``arena_bytes`` is the
    activations' extent, ``scratch_bytes = ram_bytes - arena_bytes`` what scratch adds, and
    ``scratch_offsets[i]`` where op i's scratch is.
    """
    scratch = [int(s) for s in scratch]
    if any(s < 0 for s in scratch):
        raise EdgeqError("negative scratch size", where="memory planner")
    blocks_by_root, root_of = _blocks(reqs)
    blocks = list(blocks_by_root.values())
    if any(b.root.startswith(SCRATCH_PREFIX) for b in blocks):
        raise EdgeqError(f"buffer names must not start with {SCRATCH_PREFIX!r}", where="memory planner")
    sblocks = [_Block(f"{SCRATCH_PREFIX}{i}", [], s, i, i, 16) for i, s in enumerate(scratch) if s > 0]
    bound = max(_live_profile(blocks).values(), default=0)
    merged = {b.root: b.inplace_of for b in blocks if b.inplace_of is not None}
    lower_inplace = max(_live_profile(blocks, merged).values(), default=0)
    max_scratch = max(scratch, default=0)  # the "after" region starts 16-aligned (arena_bytes); its end need not be

    def act_top(offsets: dict[str, int]) -> int:
        return _align_up(max((offsets[b.root] + b.size for b in blocks if b.size), default=0), 16)

    def search(items: list[_Block], use_inplace: bool, target: int, total):
        found = None  # (ram, offsets, taken, strategy); stops at ``target``, a lower bound of ``total``
        for name, order in _orderings(items, tries):
            for best_fit in (True, False):
                offsets, top, taken = _place(order, use_inplace, best_fit)
                ram = total(offsets, top)
                if found is None or ram < found[0]:
                    strategy = f"{name}/{'best' if best_fit else 'first'}-fit{'/in-place' if use_inplace else ''}"
                    found = (ram, offsets, taken, strategy)
                if found[0] <= target:
                    return found
        return found

    def best_of(items: list[_Block], total, lb, layout: str):
        # plain plan first; in-place only when it beats it (an in-place kernel may be slower or need a row buffer)
        if not items:
            return None
        best = search(items, False, lb(bound, None), total)
        if merged and best[0] > lb(lower_inplace, merged):
            alt = search(items, True, lb(lower_inplace, merged), total)
            if alt[0] < best[0]:
                best = alt
        return best + (layout,)

    after = best_of(blocks, lambda off, top: act_top(off) + max_scratch,
                    lambda live_max, m: _align_up(live_max, 16) + max_scratch, "after")
    if after is None:
        after = (max_scratch, {}, [], "empty", "after")
    candidates = [after]
    if sblocks and max_scratch:
        packed = best_of(blocks + sblocks, lambda off, top: max(act_top(off), top),
                         lambda live_max, m: max(_align_up(live_max, 16),
                                                 max(_live_profile(blocks + sblocks, m).values(), default=0)),
                         "packed")
        if packed is not None:
            candidates.append(packed)
    ram, block_off, taken, strategy, layout = min(candidates, key=lambda c: c[0])  # min() keeps the first on ties

    arena = act_top(block_off)
    scratch_offsets = [(block_off[f"{SCRATCH_PREFIX}{i}"] if layout == "packed" else arena) if s > 0 else None
                       for i, s in enumerate(scratch)]
    offsets = {r.name: block_off[root_of[r.name]] for r in reqs}

    taken_set = {c: p for c, p in taken}
    lower = max(_live_profile(blocks, taken_set).values(), default=0)
    per_layer = []
    # ops = 0 .. (last op index that writes a buffer or needs scratch)
    n = max(len(scratch), max((b.first + 1 for b in blocks), default=0))
    for i in range(n):
        live = [b for b in blocks if b.first <= i <= b.last]
        live_bytes = sum(b.size for b in live)
        for c, p in taken:
            cb, pb = blocks_by_root[c], blocks_by_root[p]
            if cb.first == i and pb.last == i:
                live_bytes -= min(cb.size, pb.size)
        s = scratch[i] if i < len(scratch) else 0
        hw = max((block_off[b.root] + b.size for b in live if b.size), default=0)
        if s:
            hw = max(hw, scratch_offsets[i] + s)
        per_layer.append({"op": i, "live_bytes": live_bytes, "high_water": hw, "scratch": s,
                          "scratch_offset": scratch_offsets[i] if i < len(scratch) else None,
                          "live": [b.root for b in live]})
    return MemoryPlan(offsets=offsets, arena_bytes=arena, scratch_bytes=ram - arena, scratch_offset=arena,
                      per_layer=per_layer, op_order_bound=bound, inplace=list(taken), strategy=strategy,
                      lower_bound=lower, scratch_offsets=scratch_offsets, scratch_layout=layout,
                      max_scratch=max(scratch, default=0))
