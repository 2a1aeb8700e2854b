"""Google Cloud: the Vertex AI endpoint component (issue: Vertex AI endpoint stack)."""
