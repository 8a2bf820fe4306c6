class SequentialPlacer:
    pass
