"""The one serving runtime: an ASGI app on uvicorn that speaks each cloud's contract.

The same server runs in the runtime image on every cloud and under ``genai-endpoints
serve`` on a laptop. Which cloud's contract it speaks (port, routes, where the model is) is
read from the environment exactly as that cloud sets it (``scoring.server.contracts``);
nothing else differs between clouds.
"""
