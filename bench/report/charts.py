"""Small inline SVG charts for the per-run pages, written by hand: hundreds of pages render in
milliseconds, the output is byte-for-byte deterministic, and axes and text use `currentColor`
so they follow the page's light or dark theme. Only numbers and fixed words go into them."""

from __future__ import annotations

from markupsafe import Markup, escape

TRAIN, VAL = "#E69F00", "#0072B2"  # Okabe-Ito orange and blue: safe for colour-blind readers
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 300, 190, 44, 10, 22, 30


def _f(x: float) -> str:
    return f"{x:.1f}"


def _panel(x0: float, title: str, series: list[tuple[str, str, list[tuple[int, float]]]], ymin: float,
           ymax: float, epochs: int, fmt: str) -> list[str]:
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    span = (ymax - ymin) or 1.0

    def sx(e: float) -> float:
        return x0 + PAD_L + (pw * (e - 1) / (epochs - 1) if epochs > 1 else pw / 2)

    def sy(v: float) -> float:
        return PAD_T + ph * (1 - (v - ymin) / span)

    out = [f'<text x="{_f(x0 + PAD_L)}" y="14" font-weight="bold">{title}</text>',
           f'<rect x="{_f(x0 + PAD_L)}" y="{PAD_T}" width="{pw}" height="{ph}" fill="none" stroke="currentColor" '
           'stroke-opacity="0.4"/>']
    for i in range(3):
        v = ymin + span * i / 2
        out.append(f'<text x="{_f(x0 + PAD_L - 4)}" y="{_f(sy(v) + 4)}" text-anchor="end">{fmt.format(v)}</text>')
    for e in sorted({1, epochs, (1 + epochs) // 2}):
        out.append(f'<text x="{_f(sx(e))}" y="{H - PAD_B + 14}" text-anchor="middle">{e}</text>')
    out.append(f'<text x="{_f(x0 + PAD_L + pw / 2)}" y="{H - 3}" text-anchor="middle">epoch</text>')
    for colour, dash, points in series:
        pts = " ".join(f"{_f(sx(e))},{_f(sy(v))}" for e, v in points)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        out += [f'<circle cx="{_f(sx(e))}" cy="{_f(sy(v))}" r="2.5" fill="{colour}"/>' for e, v in points]
    return out


def curves(rows: list[dict]) -> Markup:
    """Loss and accuracy per epoch, train dashed orange and validation solid blue."""
    epochs = max(r["epoch"] for r in rows)
    body = []
    # axes never leave the valid range: no loss below 0, no accuracy above 100 %
    ranges = {"loss": (0.0, float("inf")), "acc": (0.0, 1.0)}
    for i, (metric, title, fmt) in enumerate((("loss", "loss", "{:.2f}"), ("acc", "accuracy", "{:.0%}"))):
        train = [(r["epoch"], r[f"train_{metric}"]) for r in rows if r[f"train_{metric}"] is not None]
        val = [(r["epoch"], r[f"val_{metric}"]) for r in rows if r[f"val_{metric}"] is not None]
        values = [v for _, v in train + val] or [0.0, 1.0]
        lo, hi = min(values), max(values)
        pad = (hi - lo) * 0.08 or 0.01
        low, high = ranges[metric]
        body += _panel(i * W, title, [(TRAIN, ' stroke-dasharray="5 3"', train), (VAL, "", val)],
                       max(low, lo - pad), min(high, hi + pad), epochs, fmt)
    legend = (f'<g transform="translate({2 * W - 150},8)"><line x1="0" y1="0" x2="18" y2="0" stroke="{TRAIN}" '
              f'stroke-width="2" stroke-dasharray="5 3"/><text x="22" y="4">train</text><line x1="66" y1="0" '
              f'x2="84" y2="0" stroke="{VAL}" stroke-width="2"/><text x="88" y="4">validation</text></g>')
    return Markup(f'<svg class="chart" viewBox="0 0 {2 * W} {H}" role="img" aria-label="training curves" '
                  f'font-size="11" fill="currentColor" xmlns="http://www.w3.org/2000/svg">'
                  + "".join(body) + legend + "</svg>")


CLASS_NAMES = {"mnist": [str(i) for i in range(10)],
               "fashion": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                           "Bag", "Ankle boot"]}


def confusion(matrix: list[list[int]], dataset: str = "") -> Markup:
    """Rows true class, columns predicted, both named (Fashion-MNIST's words, MNIST's digits);
    shade by the share of the true class."""
    n, cell = len(matrix), 30
    names = CLASS_NAMES.get(dataset, [])[:n] or [str(j) for j in range(n)]
    words = max(map(len, names)) > 2
    off, top = (86, 74) if words else (34, 34)  # room for the class names: beside the rows, slanted above
    width, height = off + n * cell + (52 if words else 4), top + n * cell + 4  # the last name slants right
    out = [f'<text x="{off + n * cell / 2}" y="12" text-anchor="middle">predicted</text>',
           f'<text x="10" y="{top + n * cell / 2}" text-anchor="middle" transform="rotate(-90 10 '
           f'{top + n * cell / 2})">true</text>']
    for j, name in enumerate(names):
        x = off + j * cell + cell / 2
        out.append(f'<text x="{x}" y="{top - 6}" text-anchor="start" transform="rotate(-45 {x} {top - 6})">'
                   f'{escape(name)}</text>' if words else
                   f'<text x="{x}" y="28" text-anchor="middle">{escape(name)}</text>')
        out.append(f'<text x="{off - 6}" y="{top + j * cell + cell / 2 + 4}" text-anchor="end">{escape(name)}</text>')
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, count in enumerate(row):
            share = count / total
            x, y = off + j * cell, top + i * cell
            out.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{VAL}" '
                       f'fill-opacity="{share:.3f}" stroke="currentColor" stroke-opacity="0.15"/>')
            if count:
                ink = ' fill="#fff"' if share > 0.5 else ""
                out.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" '
                           f'font-size="{9 if count >= 1000 else 10}"{ink}>{count}</text>')
    return Markup(f'<svg class="chart confusion" viewBox="0 0 {width} {height}" role="img" '
                  f'aria-label="confusion matrix" font-size="10" fill="currentColor" '
                  f'xmlns="http://www.w3.org/2000/svg">' + "".join(out) + "</svg>")
