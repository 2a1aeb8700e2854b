"""The Pulumi program: typed stack config + package manifest → one component per cloud.

Imports pulumi and the provider SDKs only; never torch or diffusers, and ``model_packages``
only inside the weights step's provider (:mod:`infra.weights`, run by ``pulumi up``, never
on a preview's import path). The manifest is read as data by :mod:`infra.manifest`.
"""
