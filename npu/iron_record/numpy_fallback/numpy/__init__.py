"""Just enough of numpy's typing surface for the design's buffer types
(np.ndarray[(n,), np.dtype[np.int8]]) when numpy is not installed."""
import types


class _Scalar:
    itemsize = 0


class uint8(_Scalar):
    itemsize = 1


class int8(_Scalar):
    itemsize = 1


class int16(_Scalar):
    itemsize = 2


class int32(_Scalar):
    itemsize = 4


class float32(_Scalar):
    itemsize = 4


class dtype:
    def __class_getitem__(cls, item):
        return types.GenericAlias(cls, (item,))


class ndarray:
    def __class_getitem__(cls, item):
        return types.GenericAlias(cls, item)


def zeros(shape, dtype=None):
    n = shape if isinstance(shape, int) else shape[0]
    return [0] * n
