"""Bar charts drawn on the server as inline SVG: no script, no library, nothing fetched.

Every value and label is escaped (:class:`markupsafe.Markup` formatting). Colours and
fonts come from ``console.css`` classes (the page's CSP allows no inline style; SVG
presentation attributes such as ``x`` and ``height`` are not styles). Each bar carries a
``<title>`` (its bucket and count, shown on hover), and the chart a ``role="img"`` with an
accessible name; the page also lists the numbers in a table.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

__all__ = ["bar_chart", "nice_ceiling"]

WIDTH = 400
HEIGHT = 140
LEFT = 44  # room for the axis labels
BOTTOM = 22
TOP = 8


def nice_ceiling(value: int) -> int:
    """The axis top: the smallest of 1, 2 or 5 times a power of ten at or above
    ``value`` (at least 1)."""
    ceiling = 1
    while True:
        for step in (1, 2, 5):
            if step * ceiling >= value:
                return step * ceiling
        ceiling *= 10


def bar_chart(
    values: Sequence[int],
    labels: Sequence[str],
    *,
    title: str,
    kind: str,
    ticks: Sequence[int] = (),
    hours: Sequence[str] = (),
) -> Markup:
    """An SVG bar chart of ``values`` (one bar per bucket, ``labels`` naming them);
    ``kind`` is the CSS class of the bars, ``ticks`` the indexes whose label is written
    under the axis (first and last by default). ``hours``, when given, are the buckets'
    starts (ISO 8601, UTC): the console's script names each bar in the browser's time zone."""
    count = max(len(values), 1)
    top = nice_ceiling(max(values, default=0))
    plot_w = WIDTH - LEFT - 4
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / count
    gap = min(2.0, slot * 0.2)
    parts = [
        Markup(
            '<svg class="chart" viewBox="0 0 {w} {h}" width="100%" role="img" '
            'aria-label="{title}" preserveAspectRatio="xMidYMid meet">'
        ).format(w=WIDTH, h=HEIGHT, title=title),
        Markup('<line class="axis" x1="{x}" y1="{y}" x2="{x2}" y2="{y}"/>').format(
            x=LEFT, y=TOP + plot_h, x2=LEFT + plot_w
        ),
        Markup('<line class="grid" x1="{x}" y1="{y}" x2="{x2}" y2="{y}"/>').format(
            x=LEFT, y=TOP, x2=LEFT + plot_w
        ),
        Markup('<text class="tick" x="{x}" y="{y}" text-anchor="end">{v}</text>').format(
            x=LEFT - 4, y=TOP + 4, v=f"{top:,}"
        ),
        Markup('<text class="tick" x="{x}" y="{y}" text-anchor="end">0</text>').format(
            x=LEFT - 4, y=TOP + plot_h + 4
        ),
    ]
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        height = 0.0 if value <= 0 else max(1.0, plot_h * value / top)
        x = LEFT + index * slot + gap / 2
        parts.append(
            Markup(
                '<rect class="bar {kind}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                'height="{h:.1f}"><title{hour}>{label}: {value}</title></rect>'
            ).format(
                hour=_hour_attributes(hours, index, f": {value:,}"),
                kind=kind,
                x=x,
                y=TOP + plot_h - height,
                w=max(slot - gap, 0.5),
                h=height,
                label=label,
                value=f"{value:,}",
            )
        )
    shown = ticks or ((0, len(values) - 1) if values else ())
    for index in shown:
        if not 0 <= index < len(labels):
            continue
        anchor = "start" if index == 0 else "end" if index == len(labels) - 1 else "middle"
        x = LEFT + (index + (0 if anchor == "start" else 1 if anchor == "end" else 0.5)) * slot
        parts.append(
            Markup(
                '<text class="tick" x="{x:.1f}" y="{y}" text-anchor="{a}"{hour}>{t}</text>'
            ).format(
                x=x, y=HEIGHT - 6, a=anchor, t=labels[index], hour=_hour_attributes(hours, index)
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _hour_attributes(hours: Sequence[str], index: int, rest: str | None = None) -> Markup:
    """``data-hour`` (and the text after the hour, ``data-rest``) for the script."""
    if not 0 <= index < len(hours):
        return Markup("")
    if rest is None:
        return Markup(' data-hour="{}"').format(hours[index])
    return Markup(' data-hour="{}" data-rest="{}"').format(hours[index], rest)
