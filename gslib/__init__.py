"""gslib: the library behind the Group Sampling study (Ming et al., TPAMI 2022).

Modules, one concept each:
- ``gslib.boxes``      box conventions, eq. 13 coding, IoU
- ``gslib.anchors``    the anchor layouts of Fig. 1 (RPN, FPN, FPN-finest, FPN-finest-stride, FPN-single)
- ``gslib.matcher``    the two-pass scan matcher of Sec. 4.1
- ``gslib.sampling``   RS, group sampling (Sec. 4.2), OHEM, WRS, Focal*, the reference scale of eq. 4
- ``gslib.losses``     softmax CE, LS-IoU (eq. 5), -ln IoU, smooth-L1, the total of eq. 2
- ``gslib.augment``    the training augmentation of Sec. 5 (scale jitter, crop, flip)
- ``gslib.analyze``    the anchor-distribution analysis of Fig. 2
- ``gslib.model``      trunks, top-down pathway, heads, the detector; ``gslib.flops`` its complexity
- ``gslib.fast_rcnn``  the second stage, grouped Fast R-CNN and the two-stage detector (Sec. 4.2, 6.3)
- ``gslib.experiments`` configs, profiles, run hashes and directories; ``gslib.store`` hashing, atomic files,
  checkpoints, RNG states, the device (imports nothing of gslib)
- ``gslib.build``      the one place an experiment's strings become objects: anchors, samplers, the detector
- ``gslib.datasets``   training data; ``gslib.train`` the engine; ``gslib.pretrain`` the default profile's trunk
- ``gslib.inference``  the test pyramid, NMS, prediction files; ``gslib.study`` runs (trained and evaluated)
  for notebooks
- ``gslib.data``       readers and writers (WIDER FACE, COCO, FDDB) and the embedded benchmark (``synth``)
- ``gslib.evaluate``   the official WIDER FACE protocol, COCO, FDDB; ``gslib.diagnose`` recall by face size,
  kinds of confident false positives
- ``gslib.stats``      intervals over seeds, paired bootstrap over images; ``gslib.claims`` results/claims.md
- ``gslib.bench``      benchmarks against peers (``python -m gslib.bench matching|evaluate|train``)
"""
__version__ = "0.1.0"
