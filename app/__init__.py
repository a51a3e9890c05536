"""runway-console: a self-hosted web console for Runway-style image-to-video APIs."""

__version__ = "0.1.0"

