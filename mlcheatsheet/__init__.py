"""mlcheatsheet: the classic deep-learning architectures as a documented, tested package.

Modules:
    :mod:`~mlcheatsheet.models` (the architectures), :mod:`~mlcheatsheet.data` (datasets as
    tensors), :mod:`~mlcheatsheet.training` (training loops), :mod:`~mlcheatsheet.runtime`
    (device, seeds and the run's compute policy), :mod:`~mlcheatsheet.metrics`,
    :mod:`~mlcheatsheet.findings` (intervals and tests), :mod:`~mlcheatsheet.plotting` and
    :mod:`~mlcheatsheet.checkpoint`. What exists only for the documentation site (training
    budgets, result records, demo exports) is in :mod:`mlcheatsheet.site`.
"""

__version__ = "0.1.0"
