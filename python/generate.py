"""The seed's `python generate.py CKPT [--interactive] [--chat_format] ...`:
python3 build/python/generate.py runs bitnet_npu.generate."""
import sys

from bitnet_npu.generate import main

if __name__ == "__main__":
    sys.exit(main())
