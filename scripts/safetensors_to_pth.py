#!/usr/bin/env python3
"""Rewrites a model.safetensors as a PyTorch `pytorch_model.bin` (the zip format torch.save
writes: archive/data.pkl + one raw little-endian file per storage), without torch, so the
`pytorch_model.bin` loading path can be tested on a machine that cannot install torch.

Usage: safetensors_to_pth.py MODEL_SAFETENSORS OUT_BIN
"""
import collections
import pickle
import sys
import types
import zipfile

import numpy as np
from safetensors.numpy import load_file

# Stand-ins that pickle under torch's own names (torch._utils._rebuild_tensor_v2,
# torch.FloatStorage), as torch.save would write them.
_torch = types.ModuleType("torch")
_utils = types.ModuleType("torch._utils")


def _rebuild_tensor_v2(*args):
    raise RuntimeError("stand-in only")


_rebuild_tensor_v2.__module__ = "torch._utils"
_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class FloatStorage:
    pass


FloatStorage.__module__ = "torch"
_torch.FloatStorage = FloatStorage
_torch._utils = _utils
sys.modules.setdefault("torch", _torch)
sys.modules.setdefault("torch._utils", _utils)


class Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce__(self):
        stride, acc = [], 1
        for d in reversed(self.shape):
            stride.insert(0, acc)
            acc *= d
        return (_rebuild_tensor_v2,
                (self.storage, 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None


def main():
    src, out = sys.argv[1], sys.argv[2]
    tensors = load_file(src)
    state = collections.OrderedDict()
    blobs = {}
    for i, (name, arr) in enumerate(sorted(tensors.items())):
        arr = np.ascontiguousarray(arr.astype("<f4"))
        key = str(i)
        blobs[key] = arr.tobytes()
        state[name] = Tensor(Storage(key, arr.size), list(arr.shape))
    import io
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(state)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for key, data in blobs.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")


if __name__ == "__main__":
    main()
