"""Recording stand-in for mlir-aie's `aie` package (see npu/iron_record/README.md)."""
