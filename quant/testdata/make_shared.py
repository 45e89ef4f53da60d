"""Exports quant/testdata/shared.onnx: a PyTorch 1.13 model in which
torch.onnx deduplicates equal parameters behind Identity nodes (tied
Linear weights, two convolutions with equal weights), for FindLayers tests.
Run with /usr/bin/python3 from quant/testdata."""
import torch


class Shared(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.c2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.c2.weight.data.copy_(self.c1.weight.data)
        self.fc1 = torch.nn.Linear(64, 64)
        self.fc2 = torch.nn.Linear(64, 64)
        self.fc2.weight = self.fc1.weight  # tied
        self.head = torch.nn.Linear(64, 8)

    def forward(self, x):
        y = torch.relu(self.c1(x)) + self.c2(x)
        y = y.flatten(1)
        y = torch.relu(self.fc1(y))
        y = self.fc2(y)
        return self.head(y)


torch.onnx.export(Shared().eval(), torch.randn(2, 4, 4, 4), "shared.onnx",
                  opset_version=13, input_names=["x"], output_names=["y"])
