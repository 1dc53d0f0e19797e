"""The domain: everything a worker computes. Pure Python + numpy/torch; never imports Django."""
