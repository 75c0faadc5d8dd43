"""Import lancedb in a third of the time, changing nothing it does for us.

`import lancedb` took ~1.1-1.7 s on the 2-core machine, most of a cold `ragbot ask` (issue 21). Two costs
that buy us nothing, both paid at import:
- on Python < 3.12 lancedb marks ~100 methods with the `overrides` package's `@override`, which checks each
  signature against the base class by disassembling the caller's bytecode (~0.4 s). On Python 3.12+ lancedb
  uses `typing.override` instead, a marker that does no checking; here `overrides.override` and
  `EnforceOverrides` are swapped for those same stand-ins for the duration of the import, exactly as
  lancedb runs on 3.12;
- lancedb imports the client of the Lance REST namespace (`lance_namespace_urllib3_client`): ~300 pydantic
  models and ~370 `@validate_call` functions whose validators pydantic builds at import (~0.5 s). We never
  use that client (local folders and S3 go through lancedb's Rust core). For the duration of the import,
  pydantic's default `defer_build` is on: those validators are built on first use instead, if ever (the
  documented meaning of `defer_build`; validation itself is unchanged).
  The client package's own `__init__` (its API classes, urllib3, ~0.1 s) is also left until something
  reads an attribute of the package: lancedb imports only its `models` subpackage.
The patches are undone before this returns, and nothing else imports meanwhile under them unless another
thread does (its pydantic models would then build on first use: the same behaviour, later). If a library
changes so that a patch cannot apply, the import simply runs as it is.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import threading
from collections.abc import Iterator
from types import ModuleType

_lock = threading.Lock()


@contextlib.contextmanager
def _overrides_as_on_python_312() -> Iterator[None]:
    if sys.version_info >= (3, 12):
        yield
        return
    try:
        import overrides
        from typing_extensions import override as marker  # what typing.override is on 3.12
    except ImportError:
        yield
        return

    class EnforceOverrides:  # lancedb's own stand-in on 3.12
        pass

    saved = overrides.override, overrides.EnforceOverrides
    overrides.override, overrides.EnforceOverrides = marker, EnforceOverrides
    try:
        yield
    finally:
        overrides.override, overrides.EnforceOverrides = saved


@contextlib.contextmanager
def _pydantic_deferred() -> Iterator[None]:
    try:
        from pydantic._internal import _config

        defaults = _config.config_defaults
        saved = defaults["defer_build"]
    except (ImportError, AttributeError, KeyError, TypeError):
        yield
        return
    defaults["defer_build"] = True
    try:
        yield
    finally:
        defaults["defer_build"] = saved


class _PackageRunOnFirstUse(ModuleType):
    """A package whose `__init__` runs when one of its attributes is first read; its submodules import as usual."""

    _lock = threading.Lock()

    def __getattr__(self, name: str) -> object:
        with _PackageRunOnFirstUse._lock:
            if type(self) is _PackageRunOnFirstUse:
                self.__class__ = ModuleType
                self.__spec__.loader.exec_module(self)  # type: ignore[union-attr]
        return ModuleType.__getattribute__(self, name)


def _namespace_client_run_on_first_use() -> None:
    name = "lance_namespace_urllib3_client"
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return
        module = importlib.util.module_from_spec(spec)
    except (ImportError, ValueError):
        return
    module.__class__ = _PackageRunOnFirstUse
    sys.modules[name] = module


def import_lancedb() -> ModuleType:
    """`lancedb`, imported once per process the fast way (see the module docstring)."""
    if "lancedb" in sys.modules:  # imported (or being imported: this waits for it) already
        return importlib.import_module("lancedb")
    with _lock, _overrides_as_on_python_312(), _pydantic_deferred():
        _namespace_client_run_on_first_use()
        return importlib.import_module("lancedb")
