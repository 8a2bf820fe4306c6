#!/usr/bin/env python3
"""IRON design for BitLinear products on the Ryzen AI NPU: one core program for every shape.

    y[t][r] = sum_k W[r][k] * x[t][k]     (W ternary, 2-bit packed; x int8; y int32)

One PDI serves every matrix of the model. Everything the array is configured
with -- fifos, their object sizes and depths, the workers and their loop
structure, the kernels -- depends only on the device (its column count) and
the design constants. What differs per shape lives in the runtime sequence,
i.e. the instruction stream: the runtime parameters each core reads (row tiles
per core, K chunks, tokens) and the shim DMA access patterns. The plan JSON
comes from the C++ tool `bitnet-npu-plan` (src/backend/npu/tiling_plan.cpp);
src/backend/npu/runtime_sequence.cpp emits the same runtime sequence, and
tests/npu/npu_iron_record_test.cpp checks the two agree.

Dataflow (docs/NPU.md has the picture):
  shim(c,h) --weights of cores 2h, 2h+1 of column c--> mem tile(c,1) --split--> core(c,2+p)
             (column 0: one weight channel, two cores)
  shim(0,0) second channel --activation chunks--> broadcast to all cores
  core(c,2+p) --[4][32] int32 per row tile--> mem tile(c,1) --join--> shim(c) --> y

Each core: wait for the runtime parameters; for each of its row tiles: zero C;
for each K chunk: acquire a weight tile and an activation chunk,
C += W_tile . x_chunk for `tokens` tokens; release C.

Status: written against the IRON API of mlir-aie (ObjectFifo, Worker, Buffer
with use_write_rtp, WorkerRuntimeBarrier, Runtime, Program); it has NOT been
compiled with aiecc or run on an NPU. It does run, unmodified, against the
recording stand-in npu/iron_record, whose recorded program the emulator executes.
"""
import argparse
import json
import sys

# Runtime parameter slots (int32) of each core; runtime_sequence.cpp writes the same.
RTP_TILES, RTP_K_CHUNKS, RTP_TOKENS, RTP_LEN = 0, 1, 2, 4
CORES_PER_CHANNEL = 2


def load_plan(path):
    with open(path) as f:
        return json.load(f)


def weight_channels(col):
    # Shim (0,0)'s second MM2S channel carries the activations.
    return 1 if col == 0 else 2


def cores_in_column(col):
    # One weight channel feeds two cores, so no channel carries more than
    # another: column 0 runs two cores, the others four.
    return CORES_PER_CHANNEL * weight_channels(col)


def first_core(col):
    return sum(cores_in_column(c) for c in range(col))


def taps(plan):
    """Shim DMA patterns (bytes), computed from the plan's scalars."""
    tile_rows, k_chunk = plan["tile_rows"], plan["k_chunk"]
    max_tokens, k_padded = plan["max_tokens"], plan["k_padded"]
    columns, tiles, k_chunks = plan["columns"], plan["tiles_per_core"], plan["k_chunks"]
    rows_per_core = plan["rows_per_core"]
    rows_padded = first_core(columns) * rows_per_core
    tb = tile_rows * k_chunk // 4

    def tap(offset, sizes, strides):
        return {"offset": offset, "sizes": sizes, "strides": strides}

    # The host packed each column's block in consumption order (row tile, K
    # chunk, core); channel h walks the column's cores 2h, 2h+1.
    w = {}
    for col in range(columns):
        n = cores_in_column(col)
        base = first_core(col) * rows_per_core * k_padded // 4
        for h in range(weight_channels(col)):
            w[(col, h)] = tap(base + h * CORES_PER_CHANNEL * tb, [tiles, k_chunks, CORES_PER_CHANNEL, tb],
                              [k_chunks * n * tb, n * tb, tb, 1])
    # Every row tile needs all K chunks again (stride-0 repeat), read once for
    # the whole array; the host packed x chunk by chunk in the kernel's order.
    x_obj = max_tokens * k_chunk
    x = tap(0, [tiles, k_chunks, 1, x_obj], [0, x_obj, 0, 1])
    y = {col: tap(first_core(col) * rows_per_core * 4, [tiles, cores_in_column(col), max_tokens, tile_rows * 4],
                  [tile_rows * 4, rows_per_core * 4, rows_padded * 4, 1])
         for col in range(columns)}
    return w, x, y


def matmul_core(of_w, of_x, of_c, zero_fn, mac_fn, rtp, barrier):
    """The program of every matmul core (this design's and bitnet_layer.py's)."""
    from aie.iron.controlflow import range_

    # The counts are read after the runtime sequence wrote them; they must
    # equal the DMA transfer counts exactly, or the array hangs.
    barrier.wait_for_value(1)
    tiles = rtp[RTP_TILES]
    k_chunks = rtp[RTP_K_CHUNKS]
    tokens = rtp[RTP_TOKENS]
    for _ in range_(tiles):
        c = of_c.acquire(1)
        zero_fn(c)
        for _ in range_(k_chunks):
            w = of_w.acquire(1)
            x = of_x.acquire(1)
            mac_fn(w, x, c, tokens)
            of_w.release(1)
            of_x.release(1)
        of_c.release(1)


def matmul_columns(plan, x_fifo, zero, mac, w_core_ty, c_core_ty, rtp_ty):
    """The matmul cores of every column, their weight and result fifos: the
    part this design and bitnet_layer.py share. x_fifo feeds every core.
    Returns (w_fifos by (column, channel), y_fifos by column, workers, rtps, barriers)."""
    import numpy as np
    from aie.iron import Buffer, ObjectFifo, Worker, WorkerRuntimeBarrier
    from aie.iron.device import Tile

    tile_rows, k_chunk, max_tokens = plan["tile_rows"], plan["k_chunk"], plan["max_tokens"]
    tb = tile_rows * k_chunk // 4
    u8, i32 = np.dtype[np.uint8], np.dtype[np.int32]
    w_fifos, y_fifos, workers, rtps, barriers = {}, [], [], [], []
    w_pair_ty = np.ndarray[(CORES_PER_CHANNEL * tb,), u8]
    for col in range(plan["columns"]):
        n = cores_in_column(col)
        w_cores = []
        for h in range(weight_channels(col)):
            f = ObjectFifo(w_pair_ty, depth=2, name=f"w_l3l2_{col}_{h}")
            w_cores += f.cons().split(
                offsets=[i * tb for i in range(CORES_PER_CHANNEL)], obj_types=[w_core_ty] * CORES_PER_CHANNEL,
                names=[f"w_l2l1_{col}_{h * CORES_PER_CHANNEL + i}" for i in range(CORES_PER_CHANNEL)],
                placement=Tile(col, 1))
            w_fifos[(col, h)] = f
        y_fifo = ObjectFifo(np.ndarray[(n * max_tokens * tile_rows,), i32], depth=2, name=f"y_l2l3_{col}")
        y_cores = y_fifo.prod().join(
            offsets=[p * max_tokens * tile_rows for p in range(n)], obj_types=[c_core_ty] * n,
            names=[f"y_l1l2_{col}_{p}" for p in range(n)], placement=Tile(col, 1))
        for p in range(n):
            # Zeros, not the shape's counts: the initial value is part of the
            # PDI, which must not depend on the shape.
            rtp = Buffer(rtp_ty, name=f"rtp_{col}_{p}", initial_value=np.zeros(RTP_LEN, dtype=np.int32),
                         use_write_rtp=True)
            barrier = WorkerRuntimeBarrier()
            workers.append(Worker(matmul_core, [w_cores[p].cons(), x_fifo.cons(), y_cores[p].prod(), zero, mac,
                                            rtp, barrier], placement=Tile(col, 2 + p)))
            rtps.append(rtp)
            barriers.append(barrier)
        y_fifos.append(y_fifo)
    return w_fifos, y_fifos, workers, rtps, barriers


def build_design(plan):
    """Returns the MLIR module (with mlir-aie) or the recorded program (with npu/iron_record)."""
    try:
        import numpy as np
        from aie.iron import Kernel, ObjectFifo, Program, Runtime
        from aie.iron.device import NPU1, NPU2, Tile
        from aie.iron.placers import SequentialPlacer
        from aie.helpers.taplib import TensorAccessPattern
    except ImportError as e:
        sys.exit(f"bitlinear_gemv.py: mlir-aie's Python package is not importable ({e}); "
                 "install it (pip install mlir_aie from the mlir-aie releases) and source utils/env_setup.sh")

    tile_rows, k_chunk, max_tokens = plan["tile_rows"], plan["k_chunk"], plan["max_tokens"]
    columns = plan["columns"]
    tb = tile_rows * k_chunk // 4
    w_taps, x_tap, y_taps = taps(plan)

    u8, i8, i32 = np.dtype[np.uint8], np.dtype[np.int8], np.dtype[np.int32]
    # DDR buffers: the only shape-sized types, and they belong to the runtime sequence.
    W_ty = np.ndarray[(plan["weight_bytes"],), u8]
    X_ty = np.ndarray[(plan["x_bytes"],), i8]
    Y_ty = np.ndarray[(plan["y_bytes"] // 4,), i32]
    # Everything below is the same for every shape.
    w_core_ty = np.ndarray[(tb,), u8]
    x_ty = np.ndarray[(max_tokens * k_chunk,), i8]
    c_core_ty = np.ndarray[(max_tokens * tile_rows,), i32]
    rtp_ty = np.ndarray[(RTP_LEN,), i32]

    zero = Kernel("bitlinear_zero", "bitlinear_w2a8.o", [c_core_ty])
    mac = Kernel("bitlinear_w2a8", "bitlinear_w2a8.o", [w_core_ty, x_ty, c_core_ty, np.int32])

    # Activations: one shim channel, broadcast to every core of the array.
    x_fifo = ObjectFifo(x_ty, depth=2, name="x_l3l1")
    w_fifos, y_fifos, workers, rtps, barriers = matmul_columns(plan, x_fifo, zero, mac, w_core_ty, c_core_ty, rtp_ty)

    def tap_of(t, dims, elem_bytes):
        # The taps are in bytes; IRON counts elements of the tensor's dtype.
        sizes = t["sizes"][:3] + [t["sizes"][3] // elem_bytes]
        strides = [s // elem_bytes for s in t["strides"][:3]] + [1]
        return TensorAccessPattern(dims, t["offset"] // elem_bytes, sizes, strides)

    counts = {RTP_TILES: plan["tiles_per_core"], RTP_K_CHUNKS: plan["k_chunks"], RTP_TOKENS: plan["tokens"]}

    def set_rtps(*bufs):
        for b in bufs:
            for slot in range(RTP_LEN):
                b[slot] = counts.get(slot, 0)

    rt = Runtime()
    with rt.sequence(W_ty, X_ty, Y_ty) as (W, X, Y):
        rt.inline_ops(set_rtps, rtps)
        for b in barriers:
            rt.set_barrier(b, 1)
        rt.start(*workers)
        tg = rt.task_group()
        rt.fill(x_fifo.prod(), X, tap_of(x_tap, (plan["x_bytes"],), 1), task_group=tg, placement=Tile(0, 0))
        for (col, h), f in w_fifos.items():
            rt.fill(f.prod(), W, tap_of(w_taps[(col, h)], (plan["weight_bytes"],), 1), task_group=tg,
                    placement=Tile(col, 0))
        for col in range(columns):
            rt.drain(y_fifos[col].cons(), Y, tap_of(y_taps[col], (plan["y_bytes"] // 4,), 4),
                     task_group=tg, wait=True, placement=Tile(col, 0))
        rt.finish_task_group(tg)

    device = NPU1() if plan["device"] == "npu1" else NPU2()
    return Program(device, rt).resolve_program(SequentialPlacer())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True, help="JSON from bitnet-npu-plan")
    args = ap.parse_args()
    print(build_design(load_plan(args.plan)))


if __name__ == "__main__":
    main()
