# Regenerate with: cd npy/testdata && /usr/bin/python3 make.py
# Values are small integers / simple fractions so the Go test can rebuild
# them independently: element i of each array is derived from i.
import numpy as np
a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 4 - 2
np.save("f32.npy", a)
np.save("f64.npy", (np.arange(6, dtype=np.float64) / 3).reshape(3, 2))
np.save("i64.npy", np.arange(5, dtype=np.int64) * -1000000000000)
np.save("i32.npy", np.arange(4, dtype=np.int32).reshape(1, 4) - 2)
np.save("i8.npy", np.array([-128, -1, 0, 127], dtype=np.int8))
np.save("u8.npy", np.array([0, 1, 254, 255], dtype=np.uint8).reshape(2, 2))
np.save("bool.npy", np.array([True, False, True]))
np.save("scalar.npy", np.float32(1.5))
np.save("empty.npy", np.zeros((0, 3), dtype=np.float32))
np.save("f32_be.npy", a.astype(">f4"))
np.save("fortran.npy", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save("f16.npy", np.arange(3, dtype=np.float16))
np.savez("pair.npz", x=a, y=np.arange(3, dtype=np.int64))
np.savez_compressed("pair_compressed.npz", x=a, y=np.arange(3, dtype=np.int64))
