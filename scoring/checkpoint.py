"""Load a pipeline's modules one by one and refuse weights that don't match the code.

``DiffusionPipeline.from_pretrained`` loads a module whose checkpoint lacks weights (saved
by another library version, renamed, truncated) by initialising the missing ones at
random and logging a line; the endpoint would then answer 200 with noise. Here each
torch module is loaded by its own library with ``output_loading_info=True``, which reports
missing, unexpected and mismatched keys after the library's own key conversions (legacy
names, ``text_model.`` prefixes, tied weights, non-persistent buffers), so a key counts as
missing only when the library itself could not fill it. Any such key fails the load,
naming the module and the first keys. The loaded modules are then handed to the pipeline,
which loads the rest (tokenizers, scheduler) without loading a module twice.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from scoring.errors import ModelNotReady
from scoring.families import components
from scoring.variants import module_variant

log = logging.getLogger(__name__)

SHOWN_KEYS = 5  # keys named per kind in the error: enough to recognise a renaming

# A transformers module's state dict from bytes already read (and verified) by the caller,
# given its folder and variant; None: the library reads the file itself. Set by the
# server while it loads (scoring.server.weight_reads), so each weight file is read once.
PRELOADED: ContextVar[Callable[[Path, str | None], dict | None] | None] = ContextVar(
    "preloaded_state_dict", default=None
)


class CheckpointMismatch(ModelNotReady):
    """A module's weight file does not match the module's code; serving it would answer
    with randomly initialised weights."""


def dtype_kwargs(library: str, dtype) -> dict[str, Any]:
    """The dtype keyword each library version understands without a deprecation: diffusers
    0.42 and transformers 4.56 renamed ``torch_dtype`` to ``dtype``; older ones ignore
    ``dtype`` (and would load fp32)."""
    from packaging.version import Version

    module = importlib.import_module(library)
    renamed = {"diffusers": "0.42", "transformers": "4.56"}[library]
    new = Version(Version(module.__version__).base_version) >= Version(renamed)
    return {"dtype" if new else "torch_dtype": dtype}


def module_class(library: str, class_name: str):
    """The class a ``model_index.json`` entry names, as diffusers resolves it: a library
    (``diffusers``, ``transformers``) or a diffusers pipeline module (``stable_diffusion``)."""
    for name in (library, f"diffusers.pipelines.{library}"):
        try:
            return getattr(importlib.import_module(name), class_name)
        except (ImportError, AttributeError):
            continue
    return None


def load_checked_modules(model_dir: Path, index: dict, variant: str | None, dtype) -> dict:
    """Every torch module of the pipeline in ``model_dir``, loaded and checked.

    Returns ``{name: module}`` to pass to ``DiffusionPipeline.from_pretrained``. Raises
    ``CheckpointMismatch`` naming the module and its first missing/unexpected keys.
    """
    import torch

    loaded: dict[str, Any] = {}
    for name in components(index):
        library, class_name = index[name]
        folder = model_dir / name
        cls = module_class(library, class_name)
        if cls is None or not folder.is_dir() or not issubclass(cls, torch.nn.Module):
            continue  # tokenizers, schedulers, processors: no weights to check
        mod_variant = module_variant([p.name for p in folder.iterdir()], variant)
        lib = "transformers" if _is_transformers(cls) else "diffusers"
        kwargs = dict(
            dtype_kwargs(lib, dtype),
            use_safetensors=True,
            local_files_only=True,
            output_loading_info=True,
        )
        if mod_variant is not None:
            kwargs["variant"] = mod_variant
        preloaded = PRELOADED.get()
        state = preloaded(folder, mod_variant) if preloaded and lib == "transformers" else None
        source: Path | None = folder
        if state is not None:  # transformers converts and reports its keys all the same
            kwargs.update(state_dict=state, config=cls.config_class.from_pretrained(folder))
            kwargs.pop("variant", None)
            source = None  # transformers takes a state dict or a folder, not both
        try:
            module, info = cls.from_pretrained(source, **kwargs)
        except Exception as exc:
            raise ModelNotReady(f"{name}: cannot load {class_name} from {folder}: {exc}") from exc
        check_loading_info(name, class_name, info)
        loaded[name] = module
    return loaded


def check_loading_info(name: str, class_name: str, info: dict) -> None:
    """Raise ``CheckpointMismatch`` if the library reports any key it could not match."""
    missing = sorted(info.get("missing_keys") or ())
    unexpected = sorted(info.get("unexpected_keys") or ())
    mismatched = sorted(
        str(key[0] if isinstance(key, tuple) else key) for key in info.get("mismatched_keys") or ()
    )
    errors = [str(e) for e in info.get("error_msgs") or ()]
    if not (missing or unexpected or mismatched or errors):
        return
    parts = []
    for label, keys in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("wrong shape", mismatched),
        ("errors", errors),
    ):
        if keys:
            shown = ", ".join(keys[:SHOWN_KEYS]) + (", ..." if len(keys) > SHOWN_KEYS else "")
            parts.append(f"{len(keys)} {label} ({shown})")
    raise CheckpointMismatch(
        f"{name}: weights do not match {class_name}: {'; '.join(parts)}; refusing to serve "
        "randomly initialised weights (was the checkpoint saved by another library version?)"
    )


def _is_transformers(cls) -> bool:
    try:
        from transformers import PreTrainedModel
    except ImportError:
        return False
    return issubclass(cls, PreTrainedModel)
