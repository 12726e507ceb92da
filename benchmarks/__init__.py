"""Benchmarks of mlcheatsheet's training engine and docs build: ``python -m benchmarks``.

Every figure is a ratio measured side by side in one run: the package's engine against
the classic PyTorch MNIST recipe written plainly (:mod:`benchmarks.reference`), a CNN
step against the machine's large-matmul speed, and the docs build against its 15-minute
budget. See ``python -m benchmarks --help``.
"""
