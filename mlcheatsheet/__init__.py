"""mlcheatsheet: the classic deep-learning architectures as a documented, tested package.

Modules:
    :mod:`~mlcheatsheet.data` (datasets as tensors), :mod:`~mlcheatsheet.runtime` (device,
    seeds and the run's compute policy), :mod:`~mlcheatsheet.budgets` (how long each example trains),
    :mod:`~mlcheatsheet.training` (training loops), :mod:`~mlcheatsheet.metrics`,
    :mod:`~mlcheatsheet.plotting` and :mod:`~mlcheatsheet.models` (the architectures).
"""

__version__ = "0.1.0"
