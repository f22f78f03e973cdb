"""Server-rendered SVG charts: no script, no CDN, readable without colour (values are printed).

Every chart is an `<svg role="img">` with a `<title>` and one element per datum carrying
`data-label` and `data-value`, so screen readers, tests and scrapers read the same figures the
eye sees. Text is escaped; callers pass plain strings.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from web.i18n import gettext as _

PALETTE = ("#1f6feb", "#d97706", "#059669", "#b91c1c", "#7c3aed", "#0e7490")


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _share(steps: Sequence[tuple[str, float]], i: int, bases: Sequence[int | None] | None) -> str:
    """「（配信の 67%）」: the bar's share of its base step, or of the whole when `bases` is None."""
    value = steps[i][1]
    if bases is None:
        whole = sum(v for _l, v in steps)
        return _("（全体の %(share)s）", share=f"{value / whole:.0%}") if whole and len(steps) > 1 else ""
    base = bases[i]
    if base is None or not steps[base][1]:
        return ""
    return _("（%(base)sの %(share)s）", base=steps[base][0], share=f"{value / steps[base][1]:.0%}")


def funnel(title: str, steps: Sequence[tuple[str, float]], width: int = 640,
           bases: Sequence[int | None] | None = None) -> Markup:
    """Horizontal bars scaled to the largest, each with its value and its share of the right base.

    `bases[i]` is the index of the step bar i is a share of (None: no share), e.g. opened of
    delivered; without `bases` each bar is a share of all bars together (a distribution), so no
    bar ever reads more than 100 %.
    """
    bar_h, gap, label_w = 26, 8, 150
    height = len(steps) * (bar_h + gap) + 34
    top = max((v for _l, v in steps), default=0) or 1
    parts = [f'<svg class="chart funnel" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
             f'<text x="0" y="16" class="chart-title" font-weight="bold">{escape(title)}</text>']
    span = width - label_w - 120
    for i, (label, value) in enumerate(steps):
        y = 28 + i * (bar_h + gap)
        w = max(1.0, span * value / top) if value else 0
        share = _share(steps, i, bases)
        parts.append(
            f'<g class="bar" data-label="{escape(label)}" data-value="{escape(_fmt(value))}">'
            f'<text x="{label_w - 6}" y="{y + 18}" text-anchor="end" font-size="13">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[0]}" rx="3"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 18}" font-size="13">{escape(_fmt(value))}{escape(share)}</text>'
            f"</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text and attribute above went through escape())


def daily(title: str, days: Sequence[str], series: dict[str, Sequence[float]], width: int = 720,
          height: int = 240) -> Markup:
    """Lines over days, one per series, with a legend; points carry their values."""
    left, right, top_pad, bottom = 48, 12, 30, 46
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    peak = max((max(v, default=0) for v in series.values()), default=0) or 1
    n = max(len(days), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h - plot_h * v / peak

    parts = [f'<svg class="chart daily" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
             f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>'
             f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" y2="{top_pad + plot_h}" stroke="#999"/>'
             f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end" font-size="11">{escape(_fmt(peak))}</text>'
             f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" font-size="11">0</text>']
    if days:
        parts.append(f'<text x="{left}" y="{height - 26}" font-size="11">{escape(days[0])}</text>'
                     f'<text x="{width - right}" y="{height - 26}" font-size="11" text-anchor="end">'
                     f"{escape(days[-1])}</text>")
    for k, (name, values) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<g class="series" data-label="{escape(name)}" data-value="{escape(_fmt(sum(values)))}">'
                     f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.extend(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                     f"<title>{escape(days[i])}: {escape(_fmt(v))}</title></circle>"
                     for i, v in enumerate(values))
        parts.append(f'<rect x="{left + k * 150}" y="{height - 14}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{left + k * 150 + 14}" y="{height - 5}" font-size="12">{escape(name)} '
                     f"({escape(_fmt(sum(values)))})</text></g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text and attribute above went through escape())
