"""What the project's dynamic providers share at import time (nothing they call later).

Pulumi runs a dynamic provider in its own process (``python -m pulumi.dynamic``) from the
state, where dill unpickles it; that process need not be able to import this project.
"""

from __future__ import annotations

from typing import Any


def pickle_by_value(cls: type) -> type:
    """Make dill copy ``cls`` and its methods into the state rather than refer to its module.

    dill pickles classes and functions whose ``__module__`` is ``__main__`` by value (what
    Pulumi's docs assume for dynamic providers); staticmethods and classmethods are unwrapped
    so their functions travel too. This runs when the module is imported, so the provider
    itself does not refer to this module.
    """
    cls.__module__ = "__main__"
    for value in vars(cls).values():
        func = getattr(value, "__func__", value)
        if callable(func) and hasattr(func, "__module__"):
            func.__module__ = "__main__"
    return cls


class ProviderBase:
    """Helpers every provider here needs; a base that is pickled by value with them."""

    def _ints(self, value: Any) -> Any:
        """Integral floats (how the engine hands numbers back) as integers, recursively:
        the cloud APIs want ``1``, not ``1.0``."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: self._ints(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._ints(v) for v in value]
        return value

    def _secret_keys(self, news: dict[str, Any]) -> list[str]:
        """Inputs named like a credential: refused, since inputs are stored in the state."""
        return [
            key
            for key in news
            if not key.startswith("__") and ("token" in key.lower() or "credential" in key.lower())
        ]


pickle_by_value(ProviderBase)
