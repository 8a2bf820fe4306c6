class Tile:
    def __init__(self, col, row):
        self.col, self.row = col, row

    def to_json(self):
        return [self.col, self.row]


class NPU1:
    name = "npu1"
    aie = "aie2"


class NPU2:
    name = "npu2"
    aie = "aie2p"
