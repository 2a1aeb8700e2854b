from genai_endpoints.cli import app

app(prog_name="genai-endpoints")
