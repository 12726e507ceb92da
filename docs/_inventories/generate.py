"""Write the intersphinx inventories that let the offline build link to Python, PyTorch, NumPy and Matplotlib.

Intersphinx normally downloads each project's ``objects.inv``. The docs build runs offline
with warnings as errors, so instead this script *generates* the inventories from the
installed packages: it walks their public API and records, for every class, function,
method and module, the page of the official documentation that describes it. The files are
small (a few hundred kB in all) and are committed next to this script; run it again after
upgrading torch or Python::

    python docs/_inventories/generate.py

Besides the public name (``torch.nn.Module``), each class is also recorded under the name
autodoc derives from its ``__module__`` (``torch.nn.modules.module.Module``), so
signatures written with short imports resolve too. The page addresses follow the layout of
each project's documentation; a name that the official docs file elsewhere still lands on
that project's pages, never on a dead host.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent

Entry = tuple[str, str, str]  # (name, "py:<type>", uri relative to the project's root)


def _public(module: object) -> list[str]:
    # __all__ is often narrower than what the docs describe (os.PathLike is not in it).
    names = [*getattr(module, "__all__", ()), *dir(module)]
    return sorted({n for n in names if isinstance(n, str) and not n.startswith("_")})


def _kind(obj: object) -> str | None:
    if inspect.ismodule(obj):
        return "py:module"
    if inspect.isclass(obj):
        return "py:exception" if issubclass(obj, BaseException) else "py:class"
    if callable(obj):
        return "py:function"
    return None


class Inventory:
    """The entries of one project, deduplicated by (name, type)."""

    def __init__(self, project: str, version: str) -> None:
        self.project = project
        self.version = version
        self.entries: dict[tuple[str, str], str] = {}

    def add(self, name: str, kind: str, uri: str) -> None:
        self.entries.setdefault((name, kind), uri)

    def add_object(self, name: str, obj: object, uri: str, *, members: Callable[[str], str] | None = None) -> None:
        """Record ``obj`` as ``name``, its ``__module__`` alias, and (for classes) its public members."""
        kind = _kind(obj)
        if kind is None:
            self.add(name, "py:data", uri)
            return
        self.add(name, kind, uri)
        if kind == "py:class" and obj.__name__[:1].islower():
            # Function-like classes (torch.no_grad, functools.partial) are cited with :func: too.
            self.add(name, "py:function", uri)
        if inspect.isclass(obj):
            canonical = f"{obj.__module__}.{obj.__qualname__}"
            if canonical != name and "<" not in canonical:
                self.add(canonical, kind, uri)
            if members is not None:
                for attr in sorted(vars(obj)):
                    if attr.startswith("_"):
                        continue
                    value = inspect.getattr_static(obj, attr)
                    member_kind = "py:method" if callable(value) or isinstance(value, (classmethod, staticmethod)) else "py:attribute"
                    self.add(f"{name}.{attr}", member_kind, members(attr))

    def write(self, path: Path) -> None:
        header = (
            "# Sphinx inventory version 2\n"
            f"# Project: {self.project}\n"
            f"# Version: {self.version}\n"
            "# The remainder of this file is compressed using zlib.\n"
        )
        lines = []
        for (name, kind), uri in sorted(self.entries.items()):
            if uri.endswith("#" + name):
                uri = uri[: -len(name)] + "$"
            lines.append(f"{name} {kind} 1 {uri} -\n")
        path.write_bytes(header.encode() + zlib.compress("".join(lines).encode(), 9))
        print(f"{path.name}: {len(lines):,} entries, {path.stat().st_size / 1024:.0f} kB")


def _walk(inv: Inventory, module_name: str, uri_of: Callable[[str], str], *, members: bool = False,
          root: str | None = None) -> None:
    """Record the public objects of ``module_name``; with ``root``, only those defined under that package."""
    try:
        module = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - an optional submodule that does not import here
        return
    inv.add(module_name, "py:module", uri_of(module_name).split("#")[0] + "#module-" + module_name)
    for attr in _public(module):
        try:
            obj = getattr(module, attr)
        except Exception:  # noqa: BLE001 - lazy attributes that fail to load
            continue
        if inspect.ismodule(obj):
            continue
        origin = getattr(obj, "__module__", None)
        if root and isinstance(origin, str) and not (origin == root or origin.startswith(root + ".")):
            continue  # re-exported from elsewhere (e.g. pathlib.Path in matplotlib.animation)
        name = f"{module_name}.{attr}"
        inv.add_object(name, obj, uri_of(name),
                       members=(lambda m, n=name: uri_of(f"{n}.{m}")) if members else None)


# -- Python ---------------------------------------------------------------------------
_STDLIB = (
    "abc", "argparse", "ast", "collections", "collections.abc", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "enum", "functools", "gzip", "hashlib", "importlib", "inspect", "io", "itertools", "json",
    "logging", "math", "numbers", "operator", "os", "os.path", "pathlib", "pickle", "random", "re", "shutil",
    "socket", "statistics", "string", "subprocess", "sys", "tempfile", "textwrap", "time", "types", "typing",
    "warnings", "zipfile", "zlib",
)
_STDTYPES = {"str", "bytes", "bytearray", "dict", "list", "tuple", "set", "frozenset", "range", "memoryview",
             "int", "float", "complex", "bool", "type", "object", "slice"}


def python_inventory() -> Inventory:
    inv = Inventory("Python", f"{sys.version_info.major}.{sys.version_info.minor}")
    for name in _public(builtins):
        obj = getattr(builtins, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            inv.add(name, "py:exception", f"library/exceptions.html#{name}")
        elif inspect.isclass(obj):
            page = "stdtypes" if name in _STDTYPES and name not in {"int", "float", "bool", "object", "type"} else "functions"
            inv.add(name, "py:class", f"library/{page}.html#{name}")
        elif callable(obj):
            inv.add(name, "py:function", f"library/functions.html#{name}")
    for name in ("None", "True", "False", "Ellipsis", "NotImplemented"):
        inv.add(name, "py:data", f"library/constants.html#{name}")
    for module in _STDLIB:
        _walk(inv, module, lambda n, m=module: f"library/{m}.html#{n}", members=True)
    return inv


# -- PyTorch --------------------------------------------------------------------------
def _torch_uri(name: str) -> str:
    special = {
        "torch.Tensor": "tensors.html#torch.Tensor",
        "torch.device": "tensor_attributes.html#torch.device",
        "torch.dtype": "tensor_attributes.html#torch.dtype",
        "torch.layout": "tensor_attributes.html#torch.layout",
        "torch.memory_format": "tensor_attributes.html#torch.memory_format",
        "torch.Size": "size.html#torch.Size",
        "torch.autocast": "amp.html#torch.autocast",
        "torch.optim.Optimizer": "optim.html#torch.optim.Optimizer",
    }
    if name in special:
        return special[name]
    for prefix, page in (("torch.utils.data.", "data"), ("torch.nn.init.", "nn.init"),
                         ("torch.distributions.", "distributions"), ("torch.amp.", "amp"),
                         ("torch.backends.", "backends")):
        if name.startswith(prefix):
            return f"{page}.html#{name}"
    return f"generated/{name}.html#{name}"


_TORCH_MODULES = (
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.utils", "torch.nn.utils.rnn",
    "torch.nn.utils.parametrizations", "torch.nn.parameter", "torch.optim", "torch.optim.lr_scheduler",
    "torch.utils.data", "torch.distributions", "torch.autograd", "torch.amp", "torch.cuda", "torch.mps",
    "torch.backends.mps", "torch.backends.cudnn", "torch.linalg", "torch.fft", "torch.random", "torch.special",
)


def torch_inventory() -> Inventory:
    import torch

    inv = Inventory("PyTorch", torch.__version__.split("+")[0])
    for module in _TORCH_MODULES:
        _walk(inv, module, _torch_uri, root="torch", members=module in {"torch.nn", "torch.optim", "torch.utils.data"})
    # Tensor methods have their own pages.
    inv.add_object("torch.Tensor", torch.Tensor, _torch_uri("torch.Tensor"), members=lambda m: _torch_uri(f"torch.Tensor.{m}"))
    for attr in dir(torch.Tensor):
        if not attr.startswith("_"):
            inv.add(f"torch.Tensor.{attr}", "py:method" if callable(getattr(torch.Tensor, attr, None)) else "py:attribute",
                    _torch_uri(f"torch.Tensor.{attr}"))
    for dtype in ("float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool", "long", "float"):
        inv.add(f"torch.{dtype}", "py:data", "tensor_attributes.html#torch.dtype")
    return inv


# -- NumPy ----------------------------------------------------------------------------
def _numpy_uri(name: str) -> str:
    if name.startswith("numpy.typing."):
        return f"reference/typing.html#{name}"
    if name.startswith("numpy.random."):
        return f"reference/random/generated/{name}.html#{name}"
    return f"reference/generated/{name}.html#{name}"


def numpy_inventory() -> Inventory:
    import numpy

    inv = Inventory("NumPy", numpy.__version__)
    for module in ("numpy", "numpy.random", "numpy.typing", "numpy.linalg", "numpy.fft"):
        _walk(inv, module, _numpy_uri, root="numpy")
    inv.add_object("numpy.ndarray", numpy.ndarray, _numpy_uri("numpy.ndarray"), members=lambda m: _numpy_uri(f"numpy.ndarray.{m}"))
    inv.add("numpy.random.Generator", "py:class", "reference/random/generator.html#numpy.random.Generator")
    return inv


# -- Matplotlib -----------------------------------------------------------------------
def matplotlib_inventory() -> Inventory:
    import matplotlib

    inv = Inventory("Matplotlib", matplotlib.__version__)

    def uri(name: str) -> str:
        page = name if name.count(".") <= 2 else name.rsplit(".", 1)[0]
        return f"api/_as_gen/{page}.html#{name}"

    for module in ("matplotlib.figure", "matplotlib.axes", "matplotlib.pyplot", "matplotlib.animation",
                   "matplotlib.colors", "matplotlib.image", "matplotlib.gridspec"):
        _walk(inv, module, uri, root="matplotlib", members=module in {"matplotlib.figure", "matplotlib.axes"})
    return inv


def main(out: Path = HERE) -> None:
    builders: Iterable[tuple[str, Callable[[], Inventory]]] = (
        ("python", python_inventory), ("torch", torch_inventory),
        ("numpy", numpy_inventory), ("matplotlib", matplotlib_inventory),
    )
    for key, build in builders:
        build().write(out / f"{key}.inv")


if __name__ == "__main__":
    main()
