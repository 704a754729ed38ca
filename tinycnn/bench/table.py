"""Plain-text tables for the benchmark reports."""


def format_table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """Right-aligned columns (left-aligned first column); floats with 2 decimals, None as '-'."""

    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.2f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values):
        first, *rest = values
        return "  ".join([first.ljust(widths[0])] + [v.rjust(w) for v, w in zip(rest, widths[1:])])

    out = [title] if title else []
    out += [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def print_table(headers: list[str], rows: list[list], title: str | None = None):
    print(format_table(headers, rows, title), flush=True)
    print(flush=True)


def layer_row(label, x_shape, t: dict) -> list:
    """One row of a layer table from {fwd, fb[, torch fwd, torch fb]} in seconds:
    label, input shape, ms and ratios."""
    ms = {k: v * 1e3 for k, v in t.items()}
    tf, tfb = ms.get("torch fwd"), ms.get("torch fb")
    x = "x".join(map(str, x_shape)) if x_shape else ""
    return [label, x, ms["fwd"], tf, ms["fwd"] / tf if tf else None, ms["fb"], tfb, ms["fb"] / tfb if tfb else None]
