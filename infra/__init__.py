"""The Pulumi program: typed stack config + package manifest → one component per cloud.

Imports pulumi and the provider SDKs only; never torch, diffusers or ``model_packages``
(a preview must not pay for them). The manifest is read as data by :mod:`infra.manifest`.
"""
