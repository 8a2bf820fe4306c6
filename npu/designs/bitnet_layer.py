#!/usr/bin/env python3
"""IRON design for a fused BitNet decode step on the Ryzen AI NPU: RMSNorm + int8 quantization on a vector core
feeding the BitLinear cores, in one dispatch.

    xq, a = quantize(rmsnorm(x) * g)          on the vector core (0, 4), float, bitnet_vector.h
    y[r]  = sum_k W[r][k] * xq[k]             on the 30 / 14 matmul cores of bitlinear_gemv.py (int32, exact)

This is dispatch A of docs/NPU.md ("Fewer, bigger dispatches"): the norm and
the quantizer leave the host, and every BitLinear of a decoded layer that
follows a norm (qkv, o, gate|up, down) is one dispatch of this program. The
int32 products still go to DDR, and the vector core sends back what it fed
the matmul cores (the statistics and the int8 activations), so the host can
check them bit-exact against its own MatMul on those activations.

The matmul side is bitlinear_gemv.py's, unchanged except where x comes from:
instead of shim (0,0)'s second MM2S channel streaming int8 chunks, that
channel streams the float input (x and g, one 2 KiB object per K chunk) to
the vector core, which broadcasts the quantized chunks to every matmul core
(core -> core fifo), once per row tile from its local copy. The vector core
uses one of column 0's two idle cores; its records go to DDR through shim
(0,0)'s second S2MM channel.

One PDI for every shape, as bitlinear_gemv.py: the width, K chunks, row tiles
and eps are runtime parameters of the vector core; the plan JSON comes from
bitnet-npu-plan, the vector core's runtime sequence from
src/backend/npu/npu_layer.cpp, and tests/npu/npu_layer_test.cpp checks the
two agree.

Status: written against the IRON API of mlir-aie; NOT compiled with aiecc or
run on an NPU. It runs, unmodified, against the recording stand-in
npu/iron_record, whose recorded program the emulator executes.
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bitlinear_gemv import (RTP_K_CHUNKS, RTP_LEN, RTP_TILES, RTP_TOKENS, load_plan, matmul_columns,  # noqa: E402
                            taps)

# The vector core's runtime parameters (int32); npu_layer.cpp writes the same.
VRTP_WIDTH, VRTP_K_CHUNKS, VRTP_TILES, VRTP_EPS_BITS, VRTP_LEN = 0, 1, 2, 3, 4
VEC_CHUNK = 256
VEC_INPUT_FLOATS = 2 * VEC_CHUNK   # bitnet_vector.h kVecInputFloats: x chunk | g chunk
HOST_RECORD_BYTES = 1024           # bitnet_vector.h kHostRecordBytes
VEC_STATE_BYTES = 34752            # sizeof(bitnet_npu::VecState); checked by tests/npu/npu_layer_test.cpp
VEC_MAX_CHUNKS = 27                # bitnet_vector.h kVecMaxChunks
VECTOR_TILE = (0, 4)               # one of column 0's idle cores


def eps_bits(eps):
    return struct.unpack("<i", struct.pack("<f", eps))[0]


def build_design(plan, width, eps):
    try:
        import numpy as np
        from aie.iron import Buffer, Kernel, ObjectFifo, Program, Runtime, Worker, WorkerRuntimeBarrier
        from aie.iron.controlflow import range_
        from aie.iron.device import NPU1, NPU2, Tile
        from aie.iron.placers import SequentialPlacer
        from aie.helpers.taplib import TensorAccessPattern
    except ImportError as e:
        sys.exit(f"bitnet_layer.py: mlir-aie's Python package is not importable ({e}); "
                 "install it (pip install mlir_aie from the mlir-aie releases) and source utils/env_setup.sh")

    tile_rows, k_chunk, max_tokens = plan["tile_rows"], plan["k_chunk"], plan["max_tokens"]
    columns, k_chunks = plan["columns"], plan["k_chunks"]
    if k_chunks > VEC_MAX_CHUNKS:
        sys.exit(f"bitnet_layer.py: K = {plan['k_padded']} is {k_chunks} chunks; the vector core holds {VEC_MAX_CHUNKS}")
    tb = tile_rows * k_chunk // 4
    w_taps, _, y_taps = taps(plan)

    u8, i8, i32, f32 = np.dtype[np.uint8], np.dtype[np.int8], np.dtype[np.int32], np.dtype[np.float32]
    vin_bytes = k_chunks * VEC_INPUT_FLOATS * 4
    host_bytes = (k_chunks + 1) * HOST_RECORD_BYTES
    # DDR buffers: the only shape-sized types, and they belong to the runtime sequence.
    W_ty = np.ndarray[(plan["weight_bytes"],), u8]
    V_ty = np.ndarray[(vin_bytes // 4,), f32]
    Y_ty = np.ndarray[(plan["y_bytes"] // 4,), i32]
    H_ty = np.ndarray[(host_bytes,), u8]
    # Everything below is the same for every shape.
    w_core_ty = np.ndarray[(tb,), u8]
    x_ty = np.ndarray[(max_tokens * k_chunk,), i8]
    c_core_ty = np.ndarray[(max_tokens * tile_rows,), i32]
    rtp_ty = np.ndarray[(RTP_LEN,), i32]
    vin_ty = np.ndarray[(VEC_INPUT_FLOATS,), f32]
    rec_ty = np.ndarray[(HOST_RECORD_BYTES,), u8]
    state_ty = np.ndarray[(VEC_STATE_BYTES,), u8]

    zero = Kernel("bitlinear_zero", "bitlinear_w2a8.o", [c_core_ty])
    mac = Kernel("bitlinear_w2a8", "bitlinear_w2a8.o", [w_core_ty, x_ty, c_core_ty, np.int32])
    v_begin = Kernel("bitnet_vec_begin", "bitnet_vector.o", [state_ty, np.int32, np.int32])
    v_norm = Kernel("bitnet_vec_norm", "bitnet_vector.o", [state_ty, vin_ty])
    v_finish = Kernel("bitnet_vec_finish", "bitnet_vector.o", [state_ty, rec_ty])
    v_emit_host = Kernel("bitnet_vec_emit_host", "bitnet_vector.o", [state_ty, rec_ty])
    v_emit_x = Kernel("bitnet_vec_emit_x", "bitnet_vector.o", [state_ty, x_ty])

    def vector_fn(of_in, of_x, of_host, begin_fn, norm_fn, finish_fn, emit_host_fn, emit_x_fn, state, rtp, barrier):
        barrier.wait_for_value(1)
        k_count = rtp[VRTP_K_CHUNKS]
        tiles = rtp[VRTP_TILES]
        begin_fn(state, rtp[VRTP_WIDTH], rtp[VRTP_EPS_BITS])
        for _ in range_(k_count):  # the whole vector first: the norm needs all of it
            v = of_in.acquire(1)
            norm_fn(state, v)
            of_in.release(1)
        r = of_host.acquire(1)
        finish_fn(state, r)
        of_host.release(1)
        for _ in range_(k_count):
            r = of_host.acquire(1)
            emit_host_fn(state, r)
            of_host.release(1)
        for _ in range_(tiles):  # every row tile needs all K chunks again
            for _ in range_(k_count):
                x = of_x.acquire(1)
                emit_x_fn(state, x)
                of_x.release(1)

    vin_fifo = ObjectFifo(vin_ty, depth=2, name="v_l3l1")
    x_fifo = ObjectFifo(x_ty, depth=2, name="x_l1l1")    # vector core -> every matmul core
    host_fifo = ObjectFifo(rec_ty, depth=2, name="h_l1l3")
    w_fifos, y_fifos, workers, rtps, barriers = matmul_columns(plan, x_fifo, zero, mac, w_core_ty, c_core_ty, rtp_ty)
    # The vector core, after the matmul cores (its barrier is the last).
    vstate = Buffer(state_ty, name="vstate")
    vrtp = Buffer(rtp_ty, name="vrtp", initial_value=np.zeros(VRTP_LEN, dtype=np.int32), use_write_rtp=True)
    vbarrier = WorkerRuntimeBarrier()
    workers.append(Worker(vector_fn, [vin_fifo.cons(), x_fifo.prod(), host_fifo.prod(), v_begin, v_norm, v_finish,
                                      v_emit_host, v_emit_x, vstate, vrtp, vbarrier], placement=Tile(*VECTOR_TILE)))

    def tap_of(t, dims, elem_bytes):
        sizes = t["sizes"][:3] + [t["sizes"][3] // elem_bytes]
        strides = [s // elem_bytes for s in t["strides"][:3]] + [1]
        return TensorAccessPattern(dims, t["offset"] // elem_bytes, sizes, strides)

    def per_object(count, obj_bytes):
        # One object per row of the pattern: within a BD's 1023-word inner size.
        return {"offset": 0, "sizes": [1, 1, count, obj_bytes], "strides": [0, 0, obj_bytes, 1]}

    counts = {RTP_TILES: plan["tiles_per_core"], RTP_K_CHUNKS: k_chunks, RTP_TOKENS: 1}
    vcounts = {VRTP_WIDTH: width, VRTP_K_CHUNKS: k_chunks, VRTP_TILES: plan["tiles_per_core"],
               VRTP_EPS_BITS: eps_bits(eps)}

    def set_rtps(*bufs):
        for b in bufs:
            for slot in range(RTP_LEN):
                b[slot] = counts.get(slot, 0)

    def set_vrtp(b):
        for slot in range(VRTP_LEN):
            b[slot] = vcounts[slot]

    rt = Runtime()
    with rt.sequence(W_ty, V_ty, Y_ty, H_ty) as (W, V, Y, H):
        rt.inline_ops(set_rtps, rtps)
        rt.inline_ops(set_vrtp, [vrtp])
        for b in barriers + [vbarrier]:
            rt.set_barrier(b, 1)
        rt.start(*workers)
        tg = rt.task_group()
        rt.fill(vin_fifo.prod(), V, tap_of(per_object(k_chunks, VEC_INPUT_FLOATS * 4), (vin_bytes // 4,), 4), task_group=tg, placement=Tile(0, 0))
        for (col, h), f in w_fifos.items():
            rt.fill(f.prod(), W, tap_of(w_taps[(col, h)], (plan["weight_bytes"],), 1), task_group=tg,
                    placement=Tile(col, 0))
        for col in range(columns):
            rt.drain(y_fifos[col].cons(), Y, tap_of(y_taps[col], (plan["y_bytes"] // 4,), 4),
                     task_group=tg, wait=True, placement=Tile(col, 0))
        rt.drain(host_fifo.cons(), H, tap_of(per_object(k_chunks + 1, HOST_RECORD_BYTES), (host_bytes,), 1), task_group=tg, wait=True,
                 placement=Tile(0, 0))
        rt.finish_task_group(tg)

    device = NPU1() if plan["device"] == "npu1" else NPU2()
    return Program(device, rt).resolve_program(SequentialPlacer())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True, help="JSON from bitnet-npu-plan")
    ap.add_argument("--width", type=int, default=None, help="live elements of the normed vector (default: the plan's K)")
    ap.add_argument("--eps", type=float, default=1e-5, help="RMSNorm epsilon")
    args = ap.parse_args()
    plan = load_plan(args.plan)
    print(build_design(plan, args.width if args.width is not None else plan["cols"], args.eps))


if __name__ == "__main__":
    main()
