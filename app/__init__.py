"""runway-console: a self-hosted web console for Runway-style image-to-video APIs."""

__version__ = "0.1.0"


def create_app(settings=None):
    """Build the ASGI app; see app.main.create_app."""
    from app.main import create_app as _create_app

    return _create_app(settings)
