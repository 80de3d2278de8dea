"""What the worker imports: decoding photos, preprocessing, the network and its model file, inference with
TTA and the abstain rule, and the ONNX Runtime backend. Nothing here needs the training tools."""
