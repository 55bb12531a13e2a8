"""gslib: the library behind the Group Sampling study (Ming et al., TPAMI 2022).

Modules, one concept each:
- ``gslib.boxes``    box conventions, eq. 13 coding, IoU
- ``gslib.anchors``  the anchor layouts of Fig. 1 (RPN, FPN, FPN-finest, FPN-finest-stride, FPN-single)
- ``gslib.matcher``  the two-pass scan matcher of Sec. 4.1
- ``gslib.sampling`` RS, group sampling (Sec. 4.2), OHEM, WRS, Focal*, the reference scale of eq. 4
- ``gslib.losses``   softmax CE, LS-IoU (eq. 5), -ln IoU, smooth-L1, the total of eq. 2
- ``gslib.bench``    benchmarks against torchvision (``python -m gslib.bench matching``)
"""
__version__ = "0.1.0"


def default_device():
    """CUDA when there is one, else the CPU. Nothing in gslib assumes a GPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
