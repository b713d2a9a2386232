"""``facetrust serve``: trust decisions behind an HTTP API, a camera WebSocket and a web page.

``app.py`` (FastAPI routes), ``engine.py`` (the one path through the library), ``models.py`` (what is
loaded), ``limits.py`` (bytes, pixels, time, queue), ``uploads.py`` (bodies read in memory),
``heatmap.py`` (explain maps), ``metrics.py`` (Prometheus text), ``static/`` (the page, no build step).
"""
