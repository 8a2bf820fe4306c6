def range_(*args):
    """Executed, not lowered: the recorder unrolls the core's loops into its trace."""
    return range(*args)
