"""What every cloud's stack output shares: the base of ``infra/<cloud>/outputs.py``.

Each cloud's ``program.py`` exports one object under its cloud's key, built with
:meth:`StackOutput.export` of that cloud's model; the client reads the object back with
the same model (``genai_endpoints.client.outputs``). A key renamed on one side only fails
in every synth and test, not on a live stack.

Reading is lenient where a client must be: keys the model does not know are ignored (a
newer stack may export more), and only what a call needs is required (an older stack may
lack the rest). Pydantic only: the client imports these modules, and they import neither
Pulumi nor a cloud SDK.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


def _deferred(value: Any) -> bool:
    """A Pulumi output (known only once deployed): checked by its key, not its value."""
    return callable(getattr(value, "apply", None))


class StackOutput(BaseModel):
    """Keys every cloud exports, and the per-instance price the client derives from them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_id: str | None = None
    model_revision: str | None = None
    image: str | None = None
    usd_per_hour_min: float | None = None
    usd_per_hour_max: float | None = None
    price_note: str | None = None
    # no stack of this project exports it; a stack of your own may (docs/client.md, cost)
    usd_per_instance_hour: float | None = None

    @classmethod
    def export(cls, **values: Any) -> dict[str, Any]:
        """``values`` as the exported object, unchanged, once each key is a field of this
        model, every required field is given and every value known now fits its field.
        Each key stays its own output, so one value known only after deploy hides no other.
        """
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            raise TypeError(f"{cls.__name__}: {', '.join(unknown)} not in the model")
        known = {k: v for k, v in values.items() if not _deferred(v)}
        try:
            cls.model_validate(known)
        except ValidationError as exc:
            problems = [
                e
                for e in exc.errors(include_url=False)
                if not (e["type"] == "missing" and e["loc"][0] in values)
            ]
            if problems:
                raise TypeError(f"{cls.__name__}: {problems}") from None
        return dict(values)

    def instance_price(self, instances: int | None) -> tuple[float | None, str]:
        """USD per instance-hour and how it was found (the stack exports fleet totals)."""
        if self.usd_per_instance_hour is not None:
            return self.usd_per_instance_hour, "stack output usd_per_instance_hour"
        if self.usd_per_hour_max and instances:
            return self.usd_per_hour_max / instances, "stack usd_per_hour_max / max instances"
        if self.usd_per_hour_min:
            return self.usd_per_hour_min, "stack usd_per_hour_min (all minimum instances)"
        return None, "no price in the stack outputs"
