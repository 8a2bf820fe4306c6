"""python3 -m bitnet_npu MODEL ...: the same as python3 -m bitnet_npu.generate."""
import sys

from .generate import main

sys.exit(main())
