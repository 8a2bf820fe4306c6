"""Recording stand-ins for aie.iron's Kernel, ObjectFifo, Worker, Runtime, Program."""
import json
import typing

_fifos = []
_workers = []
_current = [None]  # the worker whose body is being traced


def _type_bytes(t):
    n, item = _type_shape(t)
    return n * item


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


def _tile(p):
    return p.to_json() if p is not None else None


class _Buffer:
    def __init__(self, fifo):
        self.fifo = fifo


class _Handle:
    def __init__(self, fifo, kind):
        self.fifo, self.kind = fifo, kind

    def acquire(self, n):
        _current[0]["trace"].append(["acquire", self.fifo.name, self.kind, n])
        return _Buffer(self.fifo)

    def release(self, n):
        _current[0]["trace"].append(["release", self.fifo.name, self.kind, n])

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
        self.bytes = _type_bytes(obj_type)
        self.producer, self.consumers, self.link = None, [], None
        _fifos.append(self)

    def prod(self):
        return _Handle(self, "prod")

    def cons(self):
        return _Handle(self, "cons")

    def to_json(self):
        return {"name": self.name, "bytes": self.bytes, "depth": self.depth, "producer": self.producer,
                "consumers": self.consumers, "link": self.link}


class Kernel:
    def __init__(self, name, bin_name, arg_types):
        self.name, self.bin_name = name, bin_name
        self.arg_bytes = [_type_bytes(t) for t in arg_types]

    def __call__(self, *args):
        _current[0]["trace"].append(["call", self.name, [a.fifo.name for a in args]])


class Worker:
    def __init__(self, core_fn, fn_args=(), placement=None, while_true=True):
        self.core_fn, self.fn_args, self.placement = core_fn, list(fn_args), placement
        self.rec = {"tile": _tile(placement), "inputs": [], "outputs": [], "kernels": [], "trace": []}
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
                self.rec["kernels"].append({"name": a.name, "object": a.bin_name, "arg_bytes": a.arg_bytes})
        _workers.append(self)

    def trace(self):
        _current[0] = self.rec
        self.core_fn(*self.fn_args)  # one iteration of the while_true body
        _current[0] = None


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

    def start(self, *workers):
        self.ops.append({"op": "start", "workers": len(workers)})

    def task_group(self):
        return _TaskGroup()

    def _xfer(self, op, handle, buf, tap, placement, wait=False):
        elem = self.args[int(buf[3:])]["elem_bytes"]  # taps count elements of the buffer's dtype
        self.ops.append({"op": op, "fifo": handle.fifo.name, "buffer": buf, "tap": tap.to_json(),
                         "elem_bytes": elem, "tile": _tile(placement), "wait": wait})
        end = {"tile": _tile(placement), "via": "shim"}
        if op == "fill":
            handle.fifo.producer = end
        else:
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
            "fifos": [f.to_json() for f in _fifos],
            "workers": [w.rec for w in _workers],
            "runtime": {"args": self.rt.args, "ops": self.rt.ops},
        }, indent=1)
