"""Azure: the Azure ML managed online endpoint component (issue: Azure ML stack)."""
