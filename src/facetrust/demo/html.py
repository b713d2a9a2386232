"""A self-contained HTML report: sections of text, tables and images embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1d2330; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #e3e7ef; padding-bottom: 0.2rem; margin-top: 2.2rem; }
.sub { color: #5b6478; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #d7dce6; padding: 0.3rem 0.6rem; text-align: right; }
th { background: #f3f5f9; } td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5rem 1rem 0.5rem 0; vertical-align: top; }
figure img { max-width: 520px; border: 1px solid #e3e7ef; }
figcaption { font-size: 0.85rem; color: #5b6478; max-width: 520px; }
pre { background: #f6f8fb; padding: 0.8rem; overflow-x: auto; font-size: 0.82rem; }
.note { background: #fff8e6; border-left: 4px solid #f0b429; padding: 0.5rem 0.8rem; }
"""


# After load, the page records whether every image decoded and every section has content, so a
# headless browser (``facetrust.demo.browser_check``) can verify what a reader would see.
SELF_CHECK = """
window.addEventListener('load', () => {
  const bad = [];
  document.querySelectorAll('img').forEach((img, i) => { if (!img.naturalWidth) bad.push('image ' + i); });
  document.querySelectorAll('section').forEach((s) => {
    if (s.querySelectorAll('table, img, pre, p').length === 0) bad.push('empty section ' + s.id);
  });
  document.body.setAttribute('data-check', bad.length ? 'failed: ' + bad.join(', ') :
    'ok: ' + document.querySelectorAll('img').length + ' images, ' +
    document.querySelectorAll('section').length + ' sections');
});
"""


@dataclass
class Section:
    """One report section; ``id`` is the anchor, blocks are rendered in order."""

    id: str
    title: str
    blocks: list[str] = field(default_factory=list)

    def text(self, text: str, cls: str | None = None) -> Section:
        attr = f' class="{cls}"' if cls else ""
        self.blocks.append(f"<p{attr}>{html.escape(text)}</p>")
        return self

    def table(self, rows: list[dict[str, Any]], caption: str | None = None) -> Section:
        if not rows:
            raise ValueError(f"section {self.id}: empty table {caption!r}")
        columns = list(dict.fromkeys(k for row in rows for k in row))
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(c, '')))}</td>" for c in columns) + "</tr>"
            for row in rows
        )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.blocks.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return self

    def image(self, png: bytes | str | Path, caption: str) -> Section:
        data = Path(png).read_bytes() if isinstance(png, (str, Path)) else png
        if not data.startswith(b"\x89PNG"):
            raise ValueError(f"section {self.id}: {caption!r} is not a PNG image")
        encoded = base64.b64encode(data).decode()
        self.blocks.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return self

    def code(self, text: str) -> Section:
        self.blocks.append(f"<pre>{html.escape(text)}</pre>")
        return self


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole page; every section must have content (an empty one is a bug in the pipeline)."""
    empty = [s.id for s in sections if not s.blocks]
    if empty:
        raise ValueError(f"report sections without content: {empty}")
    nav = " · ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p class='sub'>{html.escape(subtitle)}</p><nav>{nav}</nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>')
        parts.extend(section.blocks)
        parts.append("</section>")
    parts.append(f"<script>{SELF_CHECK}</script></body></html>")
    return "\n".join(parts)
