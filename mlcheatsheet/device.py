"""Device choice and seeding, kept under their first name: see :mod:`mlcheatsheet.runtime`."""

from .runtime import DEVICE_ENV, describe_device, get_device, seed_everything

__all__ = ["DEVICE_ENV", "describe_device", "get_device", "seed_everything"]
