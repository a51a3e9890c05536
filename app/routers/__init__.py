"""The console's routers, one per concern; each handler parses, calls and renders.

These modules and `app/deps.py` do without `from __future__ import annotations`: FastAPI reads every
handler's and dependency's signature for each app it builds, and string annotations would be
evaluated again each time (a test run builds hundreds of apps).
"""
