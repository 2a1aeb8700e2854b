"""AWS: one SageMaker endpoint component (``genai-endpoints:aws:SageMakerEndpoint``).

The component is :class:`infra.aws.component.SageMakerEndpoint`; this package imports
nothing itself, so its pydantic-only modules (``config``, ``outputs``) load without Pulumi.
"""
