"""Static memory planner: soundness (property-based), MLPerf op-order bounds, planner <= bound."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler_util import single_op_model  # noqa: F401
from edgeq.compiler.lower import buffer_requests, lower
from edgeq.compiler.planner import BufferReq, op_order_bound, plan_memory
from edgeq.errors import EdgeqError

#: file -> op-order lower bound on activation bytes (docs / tflm-anchors.md)
MLPERF_BOUNDS = {
    "kws_ref_model.tflite": 16000,
    "pretrainedResnet_quant.tflite": 49152,
    "vww_96_int8.tflite": 55296,
    "ad01_int8.tflite": 768,
    "str_ww_ref_model.tflite": 6656,
    "pretrainedResnet_large_int8.tflite": 122880,
}


# ------------------------------------------------------------------------------------------------ independent checker


def _roots(reqs):
    by = {r.name: r for r in reqs}

    def root(n):
        while by[n].alias_of is not None:
            n = by[n].alias_of
        return n

    return {r.name: root(r.name) for r in reqs}


def check_plan(reqs: list[BufferReq], scratch: list[int], plan) -> None:
    """Raise AssertionError if ``plan`` is not a valid placement of ``reqs`` (written independently of the planner)."""
    root = _roots(reqs)
    by = {r.name: r for r in reqs}
    life: dict[str, list[int]] = {}
    size: dict[str, int] = {}
    for r in reqs:
        lo, hi = life.get(root[r.name], [r.first, r.last])
        life[root[r.name]] = [min(lo, r.first), max(hi, r.last)]
        size[root[r.name]] = max(size.get(root[r.name], 0), r.size)
    assert set(plan.offsets) == set(by)
    for r in reqs:
        off = plan.offsets[r.name]
        assert off >= 0 and off % r.align == 0, (r, off)
        assert off == plan.offsets[root[r.name]], "alias members share their root's memory"
        assert off + r.size <= plan.arena_bytes, (r, off, plan.arena_bytes)
    # in-place pairs actually taken: declared, legal, same offset
    exempt = set()
    for child, parent in plan.inplace:
        assert root[child] == child and root[parent] == parent
        declared = any(root[r.name] == child and r.inplace_of is not None and root[r.inplace_of] == parent
                       and r.first == life[child][0] for r in reqs)
        assert declared, (child, parent)
        assert life[parent][1] == life[child][0], "in-place only where the input dies"
        assert plan.offsets[child] == plan.offsets[parent]
        exempt.add(frozenset((child, parent)))
    blocks = sorted(life)
    for i, a in enumerate(blocks):
        for b in blocks[i + 1:]:
            if not size[a] or not size[b]:
                continue
            t_overlap = life[a][0] <= life[b][1] and life[b][0] <= life[a][1]
            oa, ob = plan.offsets[a], plan.offsets[b]
            m_overlap = oa < ob + size[b] and ob < oa + size[a]
            if t_overlap and m_overlap:
                assert frozenset((a, b)) in exempt, f"{a}{life[a]}@{oa}+{size[a]} vs {b}{life[b]}@{ob}+{size[b]}"
    # arena >= max live bytes (in-place pairs counted once at the op where they meet)
    times = {t for lo, hi in life.values() for t in range(lo, hi + 1)}
    for t in times:
        live = sum(size[x] for x in blocks if life[x][0] <= t <= life[x][1])
        for child, parent in plan.inplace:
            if life[child][0] == t:
                live -= min(size[child], size[parent])
        assert plan.arena_bytes >= live
    assert plan.arena_bytes % 16 == 0
    assert plan.ram_bytes == plan.arena_bytes + plan.scratch_bytes
    # scratch: op i's block is aligned, inside the RAM, and clear of every buffer live at op i
    assert len(plan.scratch_offsets) == len(scratch)
    for i, s in enumerate(scratch):
        if not s:
            continue
        so = plan.scratch_offsets[i]
        assert so is not None and so % 16 == 0 and so + s <= plan.ram_bytes, (i, s, so, plan.ram_bytes)
        for x in blocks:
            if size[x] and life[x][0] <= i <= life[x][1]:
                ox = plan.offsets[x]
                assert ox + size[x] <= so or so + s <= ox, f"scratch of op {i} @{so}+{s} overlaps {x}@{ox}"
        assert plan.per_layer[i]["high_water"] <= plan.ram_bytes
    if scratch and max(scratch) > 0:
        assert plan.ram_bytes <= plan.arena_bytes + max(scratch)


# ------------------------------------------------------------------------------------------------ property test


@st.composite
def requests(draw):
    n = draw(st.integers(1, 24))
    reqs: list[BufferReq] = []
    for i in range(n):
        first = draw(st.integers(-1, 12))
        last = first + draw(st.integers(0, 6))
        alias = inplace = None
        if reqs and draw(st.integers(0, 5)) == 0:
            alias = draw(st.sampled_from(reqs)).name
        elif reqs and draw(st.integers(0, 2)) == 0:
            # half the time a legal candidate (an input that dies where this one is born)
            target = draw(st.sampled_from(reqs))
            inplace = target.name
            if draw(st.booleans()):
                first = target.last
                last = first + draw(st.integers(0, 6))
        reqs.append(BufferReq(f"b{i}", draw(st.integers(0, 300)), first, last, alias_of=alias, inplace_of=inplace,
                              align=draw(st.sampled_from([1, 2, 4, 8, 16]))))
    scratch = draw(st.lists(st.integers(0, 500), max_size=20))
    return reqs, scratch


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_plan_is_sound(case):
    reqs, scratch = case
    plan = plan_memory(reqs, scratch, tries=4)
    check_plan(reqs, scratch, plan)
    # never worse than the no-sharing layout, and aliases are not double counted in the bound
    assert plan.op_order_bound == op_order_bound(reqs)


@settings(max_examples=100, deadline=None)
@given(requests())
def test_plan_is_deterministic(case):
    reqs, scratch = case
    a, b = plan_memory(reqs, scratch), plan_memory(list(reqs), scratch)
    assert a.offsets == b.offsets and a.arena_bytes == b.arena_bytes


# ------------------------------------------------------------------------------------------------ small cases


def test_inplace_taken_when_it_pays():
    # x -> (elementwise op 0) -> y -> (op 1) -> z, with y allowed to overwrite x
    reqs = [BufferReq("x", 96, -1, 0), BufferReq("y", 96, 0, 1, inplace_of="x"), BufferReq("z", 48, 1, 2)]
    plan = plan_memory(reqs, [0, 0])
    check_plan(reqs, [0, 0], plan)
    assert plan.inplace == [("y", "x")] and plan.offsets["y"] == plan.offsets["x"]
    assert plan.op_order_bound == 192 and plan.lower_bound == 144 and plan.arena_bytes == 144


def test_inplace_ignored_when_illegal():
    # x is still read at op 1, so y (written at op 0) cannot take its memory
    reqs = [BufferReq("x", 96, 0, 1), BufferReq("y", 96, 0, 1, inplace_of="x")]
    plan = plan_memory(reqs, [])
    check_plan(reqs, [], plan)
    assert plan.inplace == [] and plan.arena_bytes == 192


def test_alias_chain_extends_lifetime():
    reqs = [BufferReq("a", 64, 0, 1), BufferReq("b", 64, 1, 2, alias_of="a"), BufferReq("c", 64, 2, 3, alias_of="b"),
            BufferReq("d", 64, 3, 4)]
    plan = plan_memory(reqs, [])
    check_plan(reqs, [], plan)
    assert plan.offsets["a"] == plan.offsets["b"] == plan.offsets["c"] != plan.offsets["d"]
    assert plan.op_order_bound == 128


def test_scratch_after_activations_and_per_layer():
    # op 0 is the peak (490 + 8000 live): its scratch cannot hide in a hole, so it goes after the activations
    reqs = [BufferReq("in", 490, 0, 0), BufferReq("h", 8000, 0, 1), BufferReq("out", 12, 1, 2)]
    plan = plan_memory(reqs, [160, 0])
    check_plan(reqs, [160, 0], plan)
    assert plan.scratch_bytes == 160 and plan.scratch_offsets == [plan.arena_bytes, None]
    assert plan.ram_bytes == plan.arena_bytes + 160
    assert [d["op"] for d in plan.per_layer] == [0, 1]
    assert plan.per_layer[0]["live_bytes"] == 8490 and plan.per_layer[0]["scratch"] == 160
    d = plan.to_dict()
    assert d["ram_bytes"] == plan.ram_bytes and d["offsets"] == plan.offsets


def test_scratch_packed_into_a_hole():
    # op 2 needs 4000 B of scratch while only 64 B are live: it fits where the 8000 B tensors were
    reqs = [BufferReq("a", 8000, 0, 1), BufferReq("b", 8000, 1, 2), BufferReq("c", 64, 2, 3),
            BufferReq("d", 16, 3, 4)]
    plan = plan_memory(reqs, [0, 0, 4000, 0])
    check_plan(reqs, [0, 0, 4000, 0], plan)
    assert plan.scratch_layout == "packed" and plan.scratch_bytes == 0 and plan.ram_bytes == 16000
    assert plan.max_scratch == 4000

@pytest.mark.parametrize("reqs", [
    [BufferReq("a", 1, 0, 1), BufferReq("a", 1, 0, 1)],
    [BufferReq("a", 1, 2, 1)],
    [BufferReq("a", -1, 0, 1)],
    [BufferReq("a", 1, 0, 1, alias_of="nope")],
    [BufferReq("a", 1, 0, 1, align=3)],
    [BufferReq("a", 1, 0, 1, alias_of="b"), BufferReq("b", 1, 0, 1, alias_of="a")],
])
def test_bad_requests_are_user_errors(reqs):
    with pytest.raises(EdgeqError) as exc:
        plan_memory(reqs, [])
    assert "\n" not in str(exc.value)


# ------------------------------------------------------------------------------------------------ MLPerf Tiny


def _model(models_dir, name):
    path = models_dir / name
    if not path.exists():
        pytest.skip(f"MLPerf Tiny model {path} not found (set EDGEQ_SHARED_MODELS)")
    from edgeq.tflite import read_model

    return read_model(path)


@pytest.mark.parametrize("name,bound", sorted(MLPERF_BOUNDS.items()))
def test_mlperf_op_order_bound_and_plan(shared_models, name, bound):
    graph = _model(shared_models, name)
    # the lifetimes compile_model plans with, without in-place pairs (its "plain" plan)
    reqs = [dataclasses.replace(r, inplace_of=None) for r in buffer_requests(lower(graph))]
    assert op_order_bound(reqs) == bound
    plan = plan_memory(reqs, [0] * len(graph.operators))
    check_plan(reqs, [0] * len(graph.operators), plan)
    assert plan.op_order_bound == bound
    assert plan.arena_bytes <= bound
    assert len(plan.per_layer) == len(graph.operators)
    assert max(d["live_bytes"] for d in plan.per_layer) == bound


@pytest.mark.parametrize("name", sorted(MLPERF_BOUNDS))
def test_mlperf_with_inplace_requests(shared_models, name):
    graph = _model(shared_models, name)
    # every in-place candidate the layers offer, whatever delay ring it would need
    reqs = buffer_requests(lower(graph), allow_delay=lambda layer, delay: True)
    scratch = [(i * 37) % 300 for i in range(len(graph.operators))]
    plan = plan_memory(reqs, scratch)
    check_plan(reqs, scratch, plan)
    assert plan.arena_bytes <= MLPERF_BOUNDS[name] + plan.max_scratch
    assert plan.ram_bytes <= MLPERF_BOUNDS[name] + plan.max_scratch


# ------------------------------------------------------------------------------------------------ op-order bound


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.lists(st.integers(0, 400), max_size=20))
def test_inplace_bound_is_a_lower_bound(case, work_sizes):
    """inplace_bound never exceeds a plan: with no in-place pair (plain scratch), nor with the pairs and each
    in-place op's scratch raised to its working buffer (what the compiler plans)."""
    from edgeq.compiler.planner import inplace_bound

    reqs, scratch = case
    children = [r.name for r in reqs if r.inplace_of is not None]
    work = {c: work_sizes[k % len(work_sizes)] if work_sizes else 0 for k, c in enumerate(children)}
    bound, per_op = inplace_bound(reqs, scratch, work)
    assert bound == max(per_op, default=0)
    plain = plan_memory([dataclasses.replace(r, inplace_of=None) for r in reqs], scratch, tries=4)
    assert plain.ram_bytes >= bound
    by = {r.name: r for r in reqs}
    raised = list(scratch) + [0] * max(0, max((r.first + 1 for r in reqs), default=0) - len(scratch))
    for c in children:
        i = by[c].first
        if i >= 0:
            raised[i] = max(raised[i], work[c])
    with_pairs = plan_memory(reqs, raised, tries=4)
    check_plan(reqs, raised, with_pairs)
    assert with_pairs.ram_bytes >= bound


def test_inplace_bound_counts_the_working_buffer_and_alignment():
    from edgeq.compiler.planner import inplace_bound

    # x (100 B) -> op 0 in place -> y (60 B) -> op 1 -> z (10 B); y's working buffer 30 B
    reqs = [BufferReq("x", 100, -1, 0), BufferReq("y", 60, 0, 1, inplace_of="x"), BufferReq("z", 10, 1, 2)]
    bound, per_op = inplace_bound(reqs, [0, 0], {"y": 30})
    assert per_op == [112 + 30, 64 + 16, 16]  # max(112, 64) + 30 < 112 + 64; sizes rounded up to 16
    assert bound == 142
    assert inplace_bound(reqs, [0, 0], {"y": 100})[1][0] == 112 + 64  # a large buffer: plain is cheaper
    assert inplace_bound(reqs, [50, 0], {"y": 30})[1][0] == 112 + 50  # scratch shared with the working buffer


def _check_compiled_plan(planned) -> None:
    """No tensor is overwritten while live: written independently of the planner from the compiled layers' lifetimes.
    Two buffers overlap in memory only if their lifetimes are disjoint, or they are an in-place pair (the output
    born at the op where its input dies) or an alias; a layer's working buffer / scratch overlaps nothing live."""
    lw, plan = planned.lowered, planned.plan
    by_name = {n: t for t, n in lw.buffers.items()}
    aliases = {lw.buffers[layer.op.outputs[0]]: lw.buffers[layer.op.inputs[0]] for layer in lw.layers
               if layer.is_alias and layer.op.outputs[0] in lw.buffers}

    def group(n):
        while n in aliases:
            n = aliases[n]
        return n

    life, size = {}, {}
    for n, t in by_name.items():
        g = group(n)
        lo, hi = lw.lifetimes[t]
        a, b = life.get(g, (lo, hi))
        life[g] = (min(a, lo), max(b, hi))
        size[g] = max(size.get(g, 0), lw.graph.tensors[t].nbytes)
    pairs = {(group(c), group(p)) for c, p in plan.inplace}
    names = [g for g in life if size[g]]
    for k, a in enumerate(names):
        for b in names[k + 1:]:
            oa, ob = plan.offsets[a], plan.offsets[b]
            if oa + size[a] <= ob or ob + size[b] <= oa:
                continue  # disjoint in memory
            (a0, a1), (b0, b1) = life[a], life[b]
            if a1 < b0 or b1 < a0:
                continue  # disjoint in time
            assert (a, b) in pairs or (b, a) in pairs, f"{a} and {b} overlap while both live"
            child, parent = (a, b) if (a, b) in pairs else (b, a)
            assert life[child][0] == life[parent][1] and oa == ob, (child, parent)
    for i, s in enumerate(d["scratch"] for d in plan.per_layer):
        if not s:
            continue
        off = plan.scratch_offsets[i]
        assert off + s <= plan.ram_bytes
        for g in names:
            if life[g][0] <= i <= life[g][1]:
                assert off + s <= plan.offsets[g] or plan.offsets[g] + size[g] <= off, (i, g)


MCUNET_LIKE = {"op": "mcunet_like", "inputs": [[32, 32, 3]], "width": 8, "seed": 4}


@pytest.mark.tf
@pytest.mark.parametrize("backend", ["portable", "cmsis-nn"])
def test_compiled_plans_keep_the_least_variant_and_reach_the_bound(shared_models, single_op_model, cmsis_nn_dir,
                                                                   backend):
    """compile_model keeps the in-place variant (none / delay rings / smallest of ring and channel plane) that plans
    the least RAM, overwrites no live tensor, and lands on the op-order bound of its kernels' in-place rules - on the
    MLPerf Tiny models and an MCUNet-like net with explicit PADs and 7x7 / 5x5 depthwise layers."""
    from edgeq.compiler import plan_model

    models = [shared_models / n for n in sorted(MLPERF_BOUNDS) if (shared_models / n).exists()]
    models.append(single_op_model(MCUNET_LIKE))
    for path in models:
        pm = plan_model(path, target="cortex-m4", backend=backend, cmsis_nn_dir=cmsis_nn_dir)
        plan = pm.plan
        _check_compiled_plan(pm)
        assert plan.inplace_variants and plan.ram_bytes == min(plan.inplace_variants.values()), path.name
        assert plan.bound <= plan.ram_bytes <= plan.op_order_bound + plan.max_scratch, path.name
        assert plan.ram_bytes == plan.bound, (path.name, plan.inplace_choice)
        # each variant named once: the one kept first, then the others with their RAM (not the kept one again)
        assert all(plan.inplace_choice.count(lab) == 1 for lab in plan.inplace_variants), plan.inplace_choice
