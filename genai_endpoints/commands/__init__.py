"""The ``genai-endpoints`` commands, one module per command or group of commands.

``genai_endpoints.cli`` assembles them into one typer app. Each module imports only what
its options need at import time; the packages a command drives (torch, diffusers, the
client, pulumi, cloud SDKs) are imported inside the command, so ``--help`` starts fast.
"""
