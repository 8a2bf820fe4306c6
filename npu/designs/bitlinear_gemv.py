#!/usr/bin/env python3
"""IRON design for one BitNet BitLinear product on the Ryzen AI NPU.

    y[t][r] = sum_k W[r][k] * x[t][k]     (W ternary, 2-bit packed; x int8; y int32)

The design takes its whole shape from the plan JSON that the C++ tool
`bitnet-npu-plan` writes (src/backend/npu/tiling_plan.cpp is the single source
of truth). This script derives the DMA patterns and loop counts from the
plan's scalar fields on its own; `--dump-plan` prints them so a test
(tests/npu/npu_plan_test.cpp) can check they equal the C++ ones.

Dataflow, per array column c (see docs/NPU.md for the picture):
  shim(c,0) --W block of column c-->  mem tile(c,1) --split by core--> core(c,2+p)
  shim(c,0) --x chunks (same for all columns)--> mem tile --broadcast--> all cores of c
  core(c,2+p) --[tokens][32] int32 per row tile--> mem tile --join--> shim --> y

Each core: for each of its row tiles: zero C; for each K chunk: acquire one
weight tile and one activation chunk, C += W_tile . x_chunk; release C.

Status: written against the IRON API of mlir-aie (ObjectFifo, Worker,
Runtime, Program); it has NOT been compiled with aiecc or run on an NPU.
Pin one mlir-aie release when trying it (npu/README.md).
"""
import argparse
import json
import sys

SHIM_INNER_MAX_WORDS = 1023
SHIM_REPEAT_MAX = 64


def load_plan(path):
    with open(path) as f:
        return json.load(f)


def derive(plan):
    """DMA taps (bytes) and fifo object sizes, computed from the plan's scalars."""
    tile_rows, k_chunk = plan["tile_rows"], plan["k_chunk"]
    tokens, k_padded = plan["tokens"], plan["k_padded"]
    columns, cpc = plan["columns"], plan["cores_per_column"]
    tiles, k_chunks = plan["tiles_per_core"], plan["k_chunks"]
    rows_per_core = plan["rows_per_core"]
    rows_padded = columns * cpc * rows_per_core
    tile_bytes = tile_rows * k_chunk // 4
    weight_bytes_per_column = rows_padded * k_padded // 4 // columns

    def tap(offset, sizes, strides):
        return {"offset": offset, "sizes": sizes, "strides": strides}

    # Weights: the host packed each column's block in consumption order
    # (row tile, K chunk, core), so the pattern is a dense 4-d walk.
    weight_taps = [
        tap(c * weight_bytes_per_column,
            [tiles, k_chunks, cpc, tile_bytes],
            [k_chunks * cpc * tile_bytes, cpc * tile_bytes, tile_bytes, 1])
        for c in range(columns)
    ]
    # Activations: every row tile needs all K chunks again (stride-0 repeat).
    x_tap = tap(0, [tiles, k_chunks, tokens, k_chunk], [0, k_chunk, k_padded, 1])
    # Results: row tile, core (joined in the mem tile), token, 32 int32.
    y_taps = [
        tap(c * cpc * rows_per_core * 4,
            [tiles, cpc, tokens, tile_rows * 4],
            [tile_rows * 4, rows_per_core * 4, rows_padded * 4, 1])
        for c in range(columns)
    ]
    for t in weight_taps + y_taps + [x_tap]:
        check_tap(t)
    return {
        "weight_taps": weight_taps,
        "x_tap": x_tap,
        "y_taps": y_taps,
        "kernel_calls_per_core": tiles * k_chunks,
        "weight_object_bytes": cpc * tile_bytes,
        "x_object_bytes": tokens * k_chunk,
        "y_object_bytes": cpc * tokens * tile_rows * 4,
        "tile_bytes": tile_bytes,
        "rows_padded": rows_padded,
    }


def check_tap(t):
    sizes, strides = t["sizes"], t["strides"]
    if t["offset"] % 4 or sizes[3] % 4 or strides[3] != 1:
        raise ValueError(f"tap {t}: offsets and rows must be 4-byte multiples")
    if sizes[3] // 4 > SHIM_INNER_MAX_WORDS:
        raise ValueError(f"tap {t}: innermost size exceeds {SHIM_INNER_MAX_WORDS} words")
    for d in (1, 2):
        if strides[d] and sizes[d] > SHIM_INNER_MAX_WORDS:
            raise ValueError(f"tap {t}: dimension {d} exceeds {SHIM_INNER_MAX_WORDS}")
    if sizes[0] > SHIM_REPEAT_MAX:
        raise ValueError(f"tap {t}: repeat exceeds {SHIM_REPEAT_MAX}")


def build_design(plan, d):
    """Returns the MLIR module. Needs mlir-aie's Python package (aie.iron)."""
    try:
        import numpy as np
        from aie.iron import Kernel, ObjectFifo, Program, Runtime, Worker
        from aie.iron.controlflow import range_
        from aie.iron.device import NPU1, NPU2, Tile
        from aie.iron.placers import SequentialPlacer
        from aie.helpers.taplib import TensorAccessPattern
    except ImportError as e:
        sys.exit(f"bitlinear_gemv.py: mlir-aie's Python package is not importable ({e}); "
                 "install it (pip install mlir_aie from the mlir-aie releases) and source utils/env_setup.sh")

    tokens, tile_rows, k_chunk = plan["tokens"], plan["tile_rows"], plan["k_chunk"]
    columns, cpc = plan["columns"], plan["cores_per_column"]
    tiles, k_chunks = plan["tiles_per_core"], plan["k_chunks"]
    tb = d["tile_bytes"]
    weight_total = plan["weight_bytes"]
    x_total = plan["x_bytes"]
    y_total = plan["y_bytes"] // 4

    u8, i8, i32 = np.dtype[np.uint8], np.dtype[np.int8], np.dtype[np.int32]
    W_ty = np.ndarray[(weight_total,), u8]
    X_ty = np.ndarray[(x_total,), i8]
    Y_ty = np.ndarray[(y_total,), i32]
    w_col_ty = np.ndarray[(cpc * tb,), u8]
    w_core_ty = np.ndarray[(tb,), u8]
    x_ty = np.ndarray[(tokens * k_chunk,), i8]
    c_core_ty = np.ndarray[(tokens * tile_rows,), i32]
    c_col_ty = np.ndarray[(cpc * tokens * tile_rows,), i32]

    # One object file holds every token-count variant (npu/kernels/bitlinear_w2a8.cc).
    zero = Kernel(f"bitlinear_zero_t{tokens}", "bitlinear_w2a8.o", [c_core_ty])
    mac = Kernel(f"bitlinear_w2a8_t{tokens}", "bitlinear_w2a8.o", [w_core_ty, x_ty, c_core_ty])

    def core_fn(of_w, of_x, of_c, zero_fn, mac_fn):
        # Loop counts must equal the DMA transfer counts exactly, or the array hangs.
        for _ in range_(tiles):
            c = of_c.acquire(1)
            zero_fn(c)
            for _ in range_(k_chunks):
                w = of_w.acquire(1)
                x = of_x.acquire(1)
                mac_fn(w, x, c)
                of_w.release(1)
                of_x.release(1)
            of_c.release(1)

    w_fifos, x_fifos, y_fifos, workers = [], [], [], []
    for col in range(columns):
        w_fifo = ObjectFifo(w_col_ty, depth=2, name=f"w_l3l2_{col}")
        w_cores = w_fifo.cons().split(
            offsets=[p * tb for p in range(cpc)], obj_types=[w_core_ty] * cpc,
            names=[f"w_l2l1_{col}_{p}" for p in range(cpc)], placement=Tile(col, 1))
        x_fifo = ObjectFifo(x_ty, depth=2, name=f"x_l3l2_{col}")
        x_bcast = x_fifo.cons().forward(name=f"x_l2l1_{col}", placement=Tile(col, 1))
        y_fifo = ObjectFifo(c_col_ty, depth=2, name=f"y_l2l3_{col}")
        y_cores = y_fifo.prod().join(
            offsets=[p * tokens * tile_rows for p in range(cpc)], obj_types=[c_core_ty] * cpc,
            names=[f"y_l1l2_{col}_{p}" for p in range(cpc)], placement=Tile(col, 1))
        for p in range(cpc):
            workers.append(Worker(core_fn, [w_cores[p].cons(), x_bcast.cons(), y_cores[p].prod(), zero, mac],
                                  placement=Tile(col, 2 + p)))
        w_fifos.append(w_fifo)
        x_fifos.append(x_fifo)
        y_fifos.append(y_fifo)

    def tap_of(t, dims, elem_bytes):
        # The plan's taps are in bytes; IRON counts elements of the tensor's dtype.
        sizes = t["sizes"][:3] + [t["sizes"][3] // elem_bytes]
        strides = [s // elem_bytes for s in t["strides"][:3]] + [1]
        return TensorAccessPattern(dims, t["offset"] // elem_bytes, sizes, strides)

    rt = Runtime()
    with rt.sequence(W_ty, X_ty, Y_ty) as (W, X, Y):
        rt.start(*workers)
        tg = rt.task_group()
        for col in range(columns):
            rt.fill(w_fifos[col].prod(), W, tap_of(d["weight_taps"][col], (weight_total,), 1),
                    task_group=tg, placement=Tile(col, 0))
            rt.fill(x_fifos[col].prod(), X, tap_of(d["x_tap"], (x_total,), 1),
                    task_group=tg, placement=Tile(col, 0))
        for col in range(columns):
            rt.drain(y_fifos[col].cons(), Y, tap_of(d["y_taps"][col], (y_total,), 4),
                     task_group=tg, wait=True, placement=Tile(col, 0))
        rt.finish_task_group(tg)

    device = NPU1() if plan["device"] == "npu1" else NPU2()
    return Program(device, rt).resolve_program(SequentialPlacer())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True, help="JSON from bitnet-npu-plan")
    ap.add_argument("--dump-plan", action="store_true",
                    help="print the derived DMA program as JSON (no mlir-aie needed)")
    args = ap.parse_args()
    plan = load_plan(args.plan)
    derived = derive(plan)
    if args.dump_plan:
        json.dump(derived, sys.stdout, indent=1)
        print()
        return
    print(build_design(plan, derived))


if __name__ == "__main__":
    main()
