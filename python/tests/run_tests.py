"""CTest entry: runs the pytest suite, or skips (exit 77) without numpy/pytest."""
import os
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as e:
    print(f"python_package: skipped: {e.name} is not installed (apt-get install python3-numpy python3-pytest)")
    sys.exit(77)

sys.exit(pytest.main([os.path.dirname(os.path.abspath(__file__)), "-q", "-p", "no:cacheprovider"]))
