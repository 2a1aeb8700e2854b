"""The genai-endpoints command: thin wrappers over scoring, model_packages and infra."""
