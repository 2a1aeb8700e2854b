"""One adapter per cloud: each maps its serving contract onto ``scoring.service.Scorer``."""
