"""List prices of the managed image APIs, per image, in one table with its date and sources.

Transcribed by hand from the providers' public price pages (on-demand, the cheapest listed
region, standard resolution); an estimate, not a quote. Prices differ by region, size and
quality tier: set ``price_per_image`` on a target to use your own figure. Our own endpoints
are priced from the stack's $/hour × measured seconds per image instead (``selector.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRICE_DATE = "2025-06"
SOURCES = {
    "bedrock": "https://aws.amazon.com/bedrock/pricing/",
    "imagen": "https://cloud.google.com/vertex-ai/generative-ai/pricing",
    "azure-openai": "https://azure.microsoft.com/pricing/details/cognitive-services/openai-service/",
}


@dataclass(frozen=True)
class ListPrice:
    kind: str
    pattern: str  # regex on the model id
    usd_per_image: float
    note: str


TABLE: tuple[ListPrice, ...] = (
    ListPrice("bedrock", r"stability\.stable-diffusion-xl", 0.04, "SDXL 1.0, ≤1024², ≤50 steps"),
    ListPrice("bedrock", r"stability\.sd3-5-large", 0.08, "SD3.5 Large"),
    ListPrice("bedrock", r"stability\.sd3-large", 0.08, "SD3 Large"),
    ListPrice("bedrock", r"stability\.stable-image-core", 0.04, "Stable Image Core"),
    ListPrice("bedrock", r"stability\.stable-image-ultra", 0.14, "Stable Image Ultra"),
    ListPrice("bedrock", r"amazon\.nova-canvas", 0.04, "Nova Canvas, ≤1024², standard"),
    ListPrice("bedrock", r"amazon\.titan-image-generator", 0.01, "Titan Image, 1024², standard"),
    ListPrice("imagen", r"imagen-4\.0-ultra", 0.06, "Imagen 4 Ultra"),
    ListPrice("imagen", r"imagen-4\.0-fast", 0.02, "Imagen 4 Fast"),
    ListPrice("imagen", r"imagen-4\.0", 0.04, "Imagen 4"),
    ListPrice("imagen", r"imagen-3\.0-fast", 0.02, "Imagen 3 Fast"),
    ListPrice("imagen", r"imagen-3\.0", 0.04, "Imagen 3"),
    ListPrice("azure-openai", r"dall-e-3", 0.04, "DALL·E 3, 1024², standard"),
)


def list_price(kind: str, model: str) -> ListPrice | None:
    """The first table row for ``kind`` whose pattern matches ``model``, if any."""
    for row in TABLE:
        if row.kind == kind and re.search(row.pattern, model):
            return row
    return None


def price_note(row: ListPrice) -> str:
    return f"list price {row.note}, {PRICE_DATE}, {SOURCES[row.kind]}"
