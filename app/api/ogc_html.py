"""HTML renderings of the OGC face's documents (conformance class `html`): the JSON, readable, with
its links clickable; and the API definition in the Swagger UI the native API already ships."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}pre{{background:#f4f4f4;padding:1em;overflow:auto}}</style>
</head><body><h1>{title}</h1>{links}<pre>{body}</pre></body></html>
"""

_SWAGGER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: {url}, dom_id: "#swagger-ui"}});</script></body></html>
"""


def page(title: str, document: Any) -> str:
    """A document as an HTML page: its links as a list, then the document itself."""
    links = document.get("links", []) if isinstance(document, dict) else []
    items = "".join(
        f'<li><a href="{escape(link.get("href", ""))}">{escape(link.get("title") or link.get("rel") or "")}</a>'
        f' ({escape(link.get("rel", ""))})</li>' for link in links if isinstance(link, dict))
    return _PAGE.format(title=escape(title), links=f"<ul>{items}</ul>" if items else "",
                        body=escape(json.dumps(document, indent=2, ensure_ascii=False)))


def swagger(title: str, url: str) -> str:
    """The API definition at `url`, browsable."""
    # In a script element: "<" escaped so that no value can close it.
    return _SWAGGER.format(title=escape(title), url=json.dumps(url).replace("<", "\\u003c"))
