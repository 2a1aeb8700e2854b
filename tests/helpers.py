"""Small builders the tests share: input images and masks as base64, outputs decoded."""

from __future__ import annotations

import base64
import io


def png_b64(width: int = 64, height: int = 64, color=(200, 40, 40), mode: str = "RGB") -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (width, height), color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def half_mask_b64(width: int = 64, height: int = 64) -> str:
    """White (repaint) right half, black (keep) left half."""
    from PIL import Image

    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (width // 2, 0, width, height))
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def decode_output(answer_json: dict, index: int = 0):
    """The PIL image of output ``index`` in a JSON answer."""
    from PIL import Image

    data = base64.b64decode(answer_json["outputs"][index]["data"])
    return Image.open(io.BytesIO(data))
