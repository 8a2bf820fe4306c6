class TensorAccessPattern:
    def __init__(self, tensor_dims, offset, sizes, strides):
        self.tensor_dims, self.offset = list(tensor_dims), offset
        self.sizes, self.strides = list(sizes), list(strides)

    def to_json(self):
        return {"offset": self.offset, "sizes": self.sizes, "strides": self.strides}
