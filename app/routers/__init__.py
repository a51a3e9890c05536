"""The console's routers, one per concern; each handler parses, calls and renders.

app/main.py includes them once per process, for every app it builds. These modules and `app/deps.py`
do without `from __future__ import annotations`: FastAPI reads every handler's and dependency's
signature when it includes a router, and string annotations would be evaluated again each time.
"""
