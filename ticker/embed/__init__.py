"""The widget and the pages that show it (`/embed`, `/demo`, `/live`), one module a job:

- `assets`: the widget's build (stylesheet and shared rules inlined, minified, gzipped);
- `options`: the element's attributes, also the query parameters of `/embed` and `/demo`;
- `render`: the box drawn on the server, a port of the widget's rendering and its clock;
- `state`: the channels and snapshots a page starts from, and the widget's seed.

The routes are in ticker/routes/embed.py and ticker/routes/live.py; docs/widget.md is the
embedder's guide.
"""
