"""The scoring engine that every cloud's serving container runs.

This package ships into containers: it may import torch, diffusers, pydantic and PIL,
never ``infra``, ``model_packages`` or a cloud SDK. Heavy modules (torch, diffusers)
are imported only by the modules that run the model, so the schema can be used alone.
"""

__version__ = "0.1.0"
