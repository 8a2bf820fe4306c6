from . import _body, _expr


def range_(*args):
    """Recorded, not unrolled: the body is traced once inside a loop op whose
    count (a constant or a runtime parameter) the interpreter evaluates."""
    if len(args) != 1:
        raise TypeError("iron_record: range_ is recorded with a single count argument")
    loop = {"op": "loop", "count": _expr(args[0]), "body": []}
    _body[-1].append(loop)
    _body.append(loop["body"])
    try:
        yield 0
    finally:
        _body.pop()
