"""Writes heavy_torch.json: inputs and PyTorch 1.13 outputs for sim's
heavy operators (Conv, ConvTranspose, pooling, MatMul, Gemm), the
independent reference of sim/torch_test.go. Run with /usr/bin/python3."""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(7)
cases = []


def t(x):
    return {"shape": list(x.shape), "data": [float(v) for v in x.detach().reshape(-1).tolist()]}


def add(name, op, attrs, inputs, outputs):
    cases.append({"name": name, "op": op, "attrs": attrs,
                  "inputs": [t(x) if x is not None else None for x in inputs],
                  "outputs": [t(y) for y in outputs]})


def conv(name, x, w, b, stride, padding, dilation, groups):
    nd = x.dim() - 2
    fn = [None, F.conv1d, F.conv2d, F.conv3d][nd]
    y = fn(x, w, b, stride, padding, dilation, groups)
    add(name, "Conv", {"strides": list(stride), "pads": list(padding) * 2,
                       "dilations": list(dilation), "group": groups}, [x, w, b], [y])


def convt(name, x, w, b, stride, padding, output_padding, dilation, groups):
    nd = x.dim() - 2
    fn = [None, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d][nd]
    y = fn(x, w, b, stride, padding, output_padding, groups, dilation)
    add(name, "ConvTranspose", {"strides": list(stride), "pads": list(padding) * 2,
                                "output_padding": list(output_padding),
                                "dilations": list(dilation), "group": groups}, [x, w, b], [y])


r = torch.randn
conv("conv2d_groups_stride_dil", r(2, 4, 7, 6), r(6, 2, 3, 2), r(6), (2, 1), (1, 2), (1, 2), 2)
conv("conv1d_depthwise", r(1, 3, 10), r(3, 1, 3), r(3), (2,), (1,), (1,), 3)
conv("conv2d_depthwise_multiplier", r(1, 3, 9, 8), r(6, 1, 3, 3), r(6), (1, 1), (1, 1), (2, 1), 3)
conv("conv3d_dil_stride", r(1, 2, 5, 4, 6), r(4, 2, 2, 3, 2), None, (1, 2, 1), (1, 0, 1), (2, 1, 1), 1)
conv("conv2d_1x1", r(2, 16, 5, 7), r(24, 16, 1, 1), r(24), (1, 1), (0, 0), (1, 1), 1)
convt("convt2d_groups_outpad", r(1, 4, 3, 5), r(4, 3, 3, 2), r(6), (2, 3), (1, 0), (1, 2), (1, 1), 2)
convt("convt1d_dil", r(2, 3, 6), r(3, 2, 3), r(2), (2,), (1,), (0,), (2,), 1)
convt("convt3d", r(1, 2, 2, 3, 2), r(2, 2, 2, 2, 2), None, (2, 2, 2), (0, 1, 0), (1, 0, 0), (1, 1, 1), 1)

x = r(1, 2, 7, 8)
y, i = F.max_pool2d(x, (3, 2), (2, 2), (1, 1), (1, 2), ceil_mode=True, return_indices=True)
plane = torch.arange(2).reshape(1, 2, 1, 1) * (7 * 8)
add("maxpool2d_ceil_dil", "MaxPool", {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 1, 1, 1],
                                      "dilations": [1, 2], "ceil_mode": 1}, [x], [y, (i + plane).double()])
x = r(2, 3, 11)
y = F.max_pool1d(x, 4, 3, 2)
add("maxpool1d_pad", "MaxPool", {"kernel_shape": [4], "strides": [3], "pads": [2, 2]}, [x], [y])
x = r(1, 2, 7, 8)
for cip in (0, 1):
    y = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=bool(cip))
    add("avgpool2d_ceil_cip%d" % cip, "AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2],
        "pads": [1, 1, 1, 1], "ceil_mode": 1, "count_include_pad": cip}, [x], [y])
x = r(1, 2, 5, 6, 7)
y = F.avg_pool3d(x, (2, 3, 2), (2, 2, 3), (1, 1, 0), count_include_pad=False)
add("avgpool3d", "AveragePool", {"kernel_shape": [2, 3, 2], "strides": [2, 2, 3], "pads": [1, 1, 0, 1, 1, 0]}, [x], [y])
x = r(2, 5, 4, 3)
add("globalavgpool", "GlobalAveragePool", {}, [x], [x.mean(dim=(2, 3), keepdim=True)])
add("globalmaxpool", "GlobalMaxPool", {}, [x], [x.amax(dim=(2, 3), keepdim=True)])

a, b = r(2, 1, 3, 4), r(3, 4, 5)
add("matmul_broadcast", "MatMul", {}, [a, b], [torch.matmul(a, b)])
a, b = r(4), r(2, 4, 3)
add("matmul_1d_left", "MatMul", {}, [a, b], [torch.matmul(a, b)])
a, b = r(3, 2, 4), r(4)
add("matmul_1d_right", "MatMul", {}, [a, b], [torch.matmul(a, b)])
a, b = r(5, 70), r(70, 33)
add("matmul_2d", "MatMul", {}, [a, b], [torch.matmul(a, b)])
a, b, c = r(6, 4), r(5, 6), r(5)
add("gemm_transA_transB", "Gemm", {"alpha": 0.5, "beta": 2.0, "transA": 1, "transB": 1},
    [a, b, c], [torch.addmm(c, a.t(), b.t(), beta=2.0, alpha=0.5)])

with open(__file__.replace("make_heavy_torch.py", "heavy_torch.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
