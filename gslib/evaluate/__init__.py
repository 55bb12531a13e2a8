"""Evaluators: the official WIDER FACE protocol, COCO (pycocotools), FDDB."""
