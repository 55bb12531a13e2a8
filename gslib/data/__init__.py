"""Dataset readers and writers (WIDER FACE, COCO, FDDB) and the embedded benchmark generator."""
