"""AWS: one SageMaker endpoint component (``genai-endpoints:aws:SageMakerEndpoint``)."""

from infra.aws.endpoint import TYPE_TOKEN, SageMakerEndpoint, SageMakerEndpointArgs

__all__ = ["TYPE_TOKEN", "SageMakerEndpoint", "SageMakerEndpointArgs"]
