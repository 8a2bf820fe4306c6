"""Recording stand-ins for aie.iron's Kernel, ObjectFifo, Buffer, WorkerRuntimeBarrier,
Worker, Runtime and Program.

Instead of lowering to MLIR, Program.resolve_program() returns the program as
JSON: the configuration (fifos, buffers, barriers, workers with their traced
bodies -- loops kept as loops, their counts as expressions) and the runtime
sequence. The emulator (src/backend/npu/program_interpreter.cpp) executes it.
"""
import json
import typing

_fifos = []
_buffers = []
_barriers = []
_workers = []
_body = []        # stack of op lists of the worker body being traced
_rtp_writes = []  # non-empty while Runtime.inline_ops runs: the ops list to append to


def _type_shape(t):
    shape, dt = typing.get_args(t)
    (scalar,) = typing.get_args(dt)
    item = getattr(scalar, "itemsize", None)
    if not isinstance(item, int):
        import numpy
        item = numpy.dtype(scalar).itemsize
    n = 1
    for s in shape:
        n *= s
    return n, item


def _type_bytes(t):
    n, item = _type_shape(t)
    return n * item


def _scalar_bytes(t):
    """Bytes of a scalar kernel argument type (np.int32), or None for an array type."""
    if typing.get_args(t):
        return None
    item = getattr(t, "itemsize", None)
    if not isinstance(item, int):
        import numpy
        item = numpy.dtype(t).itemsize
    return item


def _tile(p):
    return p.to_json() if p is not None else None


def _emit(op):
    if not _body:
        raise RuntimeError("iron_record: a worker-only operation outside a worker body")
    _body[-1].append(op)


def _expr(v):
    """A loop count or kernel argument as the interpreter evaluates it."""
    if isinstance(v, _RtpValue):
        return {"rtp": v.buffer.name, "index": v.index}
    if isinstance(v, _Buffer):
        return {"fifo": v.fifo.name}
    if isinstance(v, Buffer):  # a core-local buffer passed to a kernel
        return {"buffer": v.name}
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"iron_record: cannot record {v!r} as a count or argument")
    return {"const": v}


class _RtpValue:
    def __init__(self, buffer, index):
        self.buffer, self.index = buffer, index


class _Buffer:
    def __init__(self, fifo):
        self.fifo = fifo


class _Handle:
    def __init__(self, fifo, kind):
        self.fifo, self.kind = fifo, kind

    def acquire(self, n):
        _emit({"op": "acquire", "fifo": self.fifo.name, "kind": self.kind, "n": n})
        return _Buffer(self.fifo)

    def release(self, n):
        _emit({"op": "release", "fifo": self.fifo.name, "kind": self.kind, "n": n})

    def _children(self, link, offsets, obj_types, names, placement):
        kids = []
        for off, ty, nm in zip(offsets, obj_types, names):
            f = ObjectFifo(ty, depth=self.fifo.depth, name=nm)
            f.link = {"kind": link, "parent": self.fifo.name, "offset": off}
            end = {"tile": _tile(placement), "via": link}
            if link == "join":
                f.consumers.append(end)
            else:
                f.producer = end
            kids.append(f)
        end = {"tile": _tile(placement), "via": link}
        if link == "join":
            self.fifo.producer = end
        else:
            self.fifo.consumers.append(end)
        return kids

    def split(self, offsets, obj_types, names, placement=None):
        return self._children("split", offsets, obj_types, names, placement)

    def join(self, offsets, obj_types, names, placement=None):
        return self._children("join", offsets, obj_types, names, placement)

    def forward(self, name=None, placement=None, obj_type=None):
        return self._children("forward", [0], [obj_type or self.fifo.obj_type], [name], placement)[0]


class ObjectFifo:
    def __init__(self, obj_type, depth=2, name=None, dims_to_stream=None, dims_from_stream_per_cons=None):
        self.obj_type, self.depth, self.name = obj_type, depth, name or f"of{len(_fifos)}"
        n, self.elem_bytes = _type_shape(obj_type)
        self.bytes = n * self.elem_bytes
        self.producer, self.consumers, self.link = None, [], None
        _fifos.append(self)

    def prod(self):
        return _Handle(self, "prod")

    def cons(self):
        return _Handle(self, "cons")

    def to_json(self):
        return {"name": self.name, "bytes": self.bytes, "elem_bytes": self.elem_bytes, "depth": self.depth, "producer": self.producer,
                "consumers": self.consumers, "link": self.link}


class Buffer:
    """A core-local buffer; with use_write_rtp=True the runtime sequence writes it (runtime parameters)."""

    def __init__(self, type=None, initial_value=None, name=None, use_write_rtp=False):
        self.name = name or f"buf{len(_buffers)}"
        self.elems, self.elem_bytes = _type_shape(type)
        init = list(initial_value) if initial_value is not None else None
        self.rec = {"name": self.name, "elems": self.elems, "elem_bytes": self.elem_bytes,
                    "initial_value": [int(v) for v in init] if init is not None else None,
                    "rtp": bool(use_write_rtp), "tile": None}
        _buffers.append(self)

    def __getitem__(self, index):
        if not _body:
            raise RuntimeError(f"iron_record: {self.name} read outside a worker body")
        return _RtpValue(self, index)

    def __setitem__(self, index, value):
        if not _rtp_writes:
            raise RuntimeError(f"iron_record: {self.name} written outside Runtime.inline_ops")
        _rtp_writes[-1].append({"op": "write_rtp", "buffer": self.name, "index": index, "value": int(value)})


GlobalBuffer = Buffer


class WorkerRuntimeBarrier:
    def __init__(self, initial_value=0):
        self.name = f"barrier{len(_barriers)}"
        self.rec = {"name": self.name, "initial_value": initial_value, "tile": None}
        _barriers.append(self)

    def wait_for_value(self, value):
        _emit({"op": "wait_barrier", "barrier": self.name, "value": value})


class Kernel:
    def __init__(self, name, bin_name, arg_types):
        self.name, self.bin_name = name, bin_name
        self.args = []
        for t in arg_types:
            s = _scalar_bytes(t)
            self.args.append({"scalar_bytes": s} if s is not None else {"buffer_bytes": _type_bytes(t)})

    def __call__(self, *args):
        _emit({"op": "call", "kernel": self.name, "args": [_expr(a) for a in args]})


class Worker:
    def __init__(self, core_fn, fn_args=(), placement=None, while_true=True):
        self.core_fn, self.fn_args, self.placement = core_fn, list(fn_args), placement
        self.rec = {"tile": _tile(placement), "inputs": [], "outputs": [], "kernels": [], "buffers": [],
                    "barriers": [], "while_true": while_true, "body": []}
        for a in self.fn_args:
            if isinstance(a, _Handle):
                end = {"tile": _tile(placement), "via": "core"}
                if a.kind == "prod":
                    a.fifo.producer = end
                    self.rec["outputs"].append(a.fifo.name)
                else:
                    a.fifo.consumers.append(end)
                    self.rec["inputs"].append(a.fifo.name)
            elif isinstance(a, Kernel):
                self.rec["kernels"].append({"name": a.name, "object": a.bin_name, "args": a.args})
            elif isinstance(a, Buffer):
                a.rec["tile"] = _tile(placement)  # placed with the core that uses it
                self.rec["buffers"].append(a.name)
            elif isinstance(a, WorkerRuntimeBarrier):
                a.rec["tile"] = _tile(placement)
                self.rec["barriers"].append(a.name)
        _workers.append(self)

    def trace(self):
        _body.append(self.rec["body"])
        self.core_fn(*self.fn_args)  # one iteration of the while_true body
        _body.pop()


class _TaskGroup:
    pass


class Runtime:
    def __init__(self):
        self.ops, self.args = [], []

    class _Seq:
        def __init__(self, rt, types):
            self.rt, self.types = rt, types

        def __enter__(self):
            self.rt.args = [{"index": i, "bytes": _type_bytes(t), "elem_bytes": _type_shape(t)[1]}
                            for i, t in enumerate(self.types)]
            return tuple(f"arg{i}" for i in range(len(self.types)))

        def __exit__(self, *exc):
            return False

    def sequence(self, *types):
        return Runtime._Seq(self, types)

    def inline_ops(self, fn, args):
        _rtp_writes.append(self.ops)
        try:
            fn(*args)
        finally:
            _rtp_writes.pop()

    def set_barrier(self, barrier, value):
        self.ops.append({"op": "set_barrier", "barrier": barrier.name, "value": value})

    def start(self, *workers):
        self.ops.append({"op": "start", "workers": len(workers)})

    def task_group(self):
        return _TaskGroup()

    def _xfer(self, op, handle, buf, tap, placement, wait=False):
        index = int(buf[3:])
        elem = self.args[index]["elem_bytes"]  # taps count elements of the buffer's dtype
        self.ops.append({"op": op, "fifo": handle.fifo.name, "arg": index, "tap": tap.to_json(),
                         "elem_bytes": elem, "tile": _tile(placement), "wait": wait})
        end = {"tile": _tile(placement), "via": "shim"}
        if op == "fill":
            handle.fifo.producer = end
        elif end not in handle.fifo.consumers:
            handle.fifo.consumers.append(end)

    def fill(self, handle, buf, tap, task_group=None, placement=None, wait=False):
        self._xfer("fill", handle, buf, tap, placement, wait)

    def drain(self, handle, buf, tap, task_group=None, wait=False, placement=None):
        self._xfer("drain", handle, buf, tap, placement, wait)

    def finish_task_group(self, tg):
        self.ops.append({"op": "finish_task_group"})


class Program:
    def __init__(self, device, rt, workers=None):
        self.device, self.rt = device, rt

    def resolve_program(self, placer=None):
        for w in _workers:
            w.trace()
        return json.dumps({
            "recorded_by": "npu/iron_record",
            "device": self.device.name,
            "aie": self.device.aie,
            "config": {
                "fifos": [f.to_json() for f in _fifos],
                "buffers": [b.rec for b in _buffers],
                "barriers": [b.rec for b in _barriers],
                "workers": [w.rec for w in _workers],
            },
            "runtime": {"args": self.rt.args, "ops": self.rt.ops},
        }, indent=1)
