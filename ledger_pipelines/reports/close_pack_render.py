"""The close pack (:mod:`.close_pack`) as an XLSX workbook and as one HTML page.

Workbook: a cover sheet, then one sheet per statement with title rows (entity and statement,
period and as-of date, month end or MONTH TO DATE), readable headers, the currency in the first
column (each currency a block with its own totals), amounts as exact numbers in major units with
the currency's decimals (negatives in parentheses), column widths that fit, the header row frozen
and an autofilter over the table, landscape pages that fit the width when printed. The HTML page
shows the same, for a browser or an e-mail.
"""

from __future__ import annotations

import html
import io
from typing import Any

from ledger_pipelines.accounting.money import decimals, format_minor
from ledger_pipelines.reports.close_pack import ClosePack, Column, Row, Sheet
from ledger_pipelines.reports.exports import amount_format, column_widths, neutralise, spreadsheet_amount

_MONEY_NOTE = "Amounts in major units of each currency (exact); negative amounts in parentheses."


def _when(pack: ClosePack) -> str:
    zone = f" in {pack.timezone}" if pack.timezone else ""
    return f"Period {pack.period}, as of the end of {pack.as_of_date.isoformat()}{zone}"


def _comparatives(pack: ClosePack) -> str:
    prior = pack.prior_as_of_date.isoformat() if pack.prior_as_of_date else "none (first period)"
    year = pack.year_opening_date.isoformat() if pack.year_opening_date else "zero (the ledger starts within the year)"
    return f"Prior period: as of {prior}. Start of year: as of {year}."


def _display(value: Any, column: Column, currency: str) -> str:
    """A cell as a person reads it (HTML, column widths)."""
    if value is None:
        return ""
    if column.kind == "money":
        text = format_minor(abs(value), decimals(currency), grouped=True)
        return f"({text})" if value < 0 else text
    if column.kind == "count":
        return f"{value:,}"
    return str(value)


def cover_lines(pack: ClosePack) -> list[tuple[str, str]]:
    """The cover's (label, value) pairs, in order."""
    lines = []
    if pack.entity:
        lines.append(("Entity", pack.entity))
    lines += [("Period", pack.period), ("Status", pack.status), ("As of", _when(pack)),
              ("Comparatives", _comparatives(pack))]
    if pack.watermark:
        taken = pack.watermark.get("taken_at")
        lines.append(("Ledger watermark", f"Postgres snapshot {pack.watermark['snapshot']}"
                      + (f", taken {taken.isoformat(timespec='seconds')}" if taken else "")))
    passed = sum(c.passed for c in pack.checks)
    lines += [("Generated at", pack.generated_at.isoformat(timespec="seconds")),
              ("Checks", f"{passed} of {len(pack.checks)} passed" + ("" if pack.checks_passed else ": SEE BELOW"))]
    return lines


# -- XLSX ------------------------------------------------------------------------------------------
def workbook_bytes(pack: ClosePack) -> bytes:
    """The close pack as an XLSX workbook."""
    from openpyxl import Workbook

    workbook = Workbook()
    _write_cover(workbook.active, pack)
    for sheet in pack.sheets:
        _write_sheet(workbook.create_sheet(sheet.name[:31]), pack, sheet)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _styles() -> dict[str, Any]:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin, double = Side(style="thin"), Side(style="double")
    return {
        "title": Font(bold=True, size=14),
        "subtitle": Font(italic=True, color="555555"),
        "warning": Font(bold=True, color="B45309"),
        "failed": Font(bold=True, color="B91C1C"),
        "passed": Font(color="15803D"),
        "bold": Font(bold=True),
        "header_fill": PatternFill("solid", fgColor="E5E7EB"),
        "block_fill": PatternFill("solid", fgColor="DBEAFE"),
        "header_border": Border(bottom=thin),
        "subtotal_border": Border(top=thin),
        "total_border": Border(top=thin, bottom=double),
        "wrap": Alignment(wrap_text=True, vertical="top"),
        "Alignment": Alignment,
    }


def _write_cover(ws, pack: ClosePack) -> None:
    s = _styles()
    ws.title = "Cover"
    ws["A1"] = neutralise(f"Close pack: {pack.entity}" if pack.entity else "Close pack")
    ws["A1"].font = s["title"]
    row = 3
    for label, value in cover_lines(pack):
        ws.cell(row=row, column=1, value=label).font = s["bold"]
        cell = ws.cell(row=row, column=2, value=neutralise(value))
        if label == "Status" and not pack.is_month_end:
            cell.font = s["warning"]
        if label == "Checks":
            cell.font = s["passed"] if pack.checks_passed else s["failed"]
        row += 1
    row += 1
    for check in pack.checks:
        ws.cell(row=row, column=1, value="passed" if check.passed else "FAILED").font = (
            s["passed"] if check.passed else s["failed"])
        ws.cell(row=row, column=2, value=neutralise(f"{check.name} ({check.detail})" if check.detail else check.name))
        row += 1
    row += 1
    ws.cell(row=row, column=1, value="Contents").font = s["bold"]
    for sheet in pack.sheets:
        row += 1
        ws.cell(row=row, column=2, value=neutralise(f"{sheet.name}: {sheet.title}"))
    row += 2
    ws.cell(row=row, column=2, value=_MONEY_NOTE).font = s["subtitle"]
    ws.cell(row=row + 1, column=2,
            value="Each currency is its own statement: amounts in different currencies are never added up.").font = s["subtitle"]
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 100
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _write_sheet(ws, pack: ClosePack, sheet: Sheet) -> None:
    from openpyxl.utils import get_column_letter

    s = _styles()
    title = f"{pack.entity}: {sheet.title}" if pack.entity else sheet.title
    ws.append([neutralise(title)])
    ws["A1"].font = s["title"]
    ws.append([_when(pack)])
    ws.append([pack.status])
    ws["A3"].font = s["subtitle"] if pack.is_month_end else s["warning"]
    notes = list(sheet.notes)
    if any(c.title == "Prior period" for c in sheet.columns):
        notes.insert(0, _comparatives(pack))
    for note in [*notes, _MONEY_NOTE]:
        ws.append([note])
        ws.cell(row=ws.max_row, column=1).font = s["subtitle"]
    header_row = ws.max_row + 2  # a blank row between the titles and the table
    columns = (Column("Currency"), *sheet.columns)
    for index, column in enumerate(columns, start=1):
        ws.cell(row=header_row, column=index, value=column.title)
    for index in range(1, len(columns) + 1):
        cell = ws.cell(row=header_row, column=index)
        cell.font, cell.fill, cell.border = s["bold"], s["header_fill"], s["header_border"]
        if columns[index - 1].kind != "text":
            cell.alignment = s["Alignment"](horizontal="right")
    for row in sheet.rows:
        _append_row(ws, row, columns, s)
    widths = column_widths([c.title for c in columns],
                           ([r.currency, *(_display(v, c, r.currency) + " " * (2 * r.indent if i == 0 else 0)
                                           for i, (v, c) in enumerate(zip(r.cells, sheet.columns, strict=True)))]
                            for r in sheet.rows))
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = max(width, 10)
    last = get_column_letter(len(columns))
    ws.freeze_panes = f"A{header_row + 1}"
    ws.auto_filter.ref = f"A{header_row}:{last}{max(ws.max_row, header_row)}"
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _append_row(ws, row: Row, columns: tuple[Column, ...], s: dict[str, Any]) -> None:
    ws.append([row.currency, *(None if c.kind != "text" else (neutralise(v) if isinstance(v, str) else v)
                               for v, c in zip(row.cells, columns[1:], strict=True))])
    number = ws.max_row
    places = decimals(row.currency)
    for index, (value, column) in enumerate(zip(row.cells, columns[1:], strict=True), start=2):
        cell = ws.cell(row=number, column=index)
        if column.kind == "money" and value is not None:
            cell.value = spreadsheet_amount(value, places)
            cell.number_format = amount_format(places)
        elif column.kind == "count" and value is not None:
            cell.value = value
            cell.number_format = "#,##0"
    label = ws.cell(row=number, column=2)
    if row.indent:
        label.alignment = s["Alignment"](indent=row.indent)
    cells = [ws.cell(row=number, column=i) for i in range(1, len(columns) + 1)]
    if row.style in ("block", "section", "subtotal", "total"):
        for cell in cells:
            cell.font = s["bold"]
    if row.style == "block":
        for cell in cells:
            cell.fill = s["block_fill"]
    elif row.style in ("subtotal", "total"):
        for cell in cells[2:]:
            cell.border = s["total_border"] if row.style == "total" else s["subtotal_border"]


# -- HTML ------------------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #111827; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.5rem; border-bottom: 2px solid #e5e7eb; padding-bottom: .2rem; }
.meta { color: #4b5563; margin: .1rem 0; } .warning { color: #b45309; font-weight: 600; }
.passed { color: #15803d; } .failed { color: #b91c1c; font-weight: 600; }
table { border-collapse: collapse; margin-top: .8rem; font-variant-numeric: tabular-nums; }
th, td { padding: .2rem .7rem; text-align: left; white-space: nowrap; }
th { background: #e5e7eb; border-bottom: 1px solid #9ca3af; }
td.num, th.num { text-align: right; }
tr.block td { background: #dbeafe; font-weight: 700; }
tr.section td, tr.subtotal td, tr.total td { font-weight: 700; }
tr.subtotal td.num { border-top: 1px solid #6b7280; }
tr.total td.num { border-top: 1px solid #111827; border-bottom: 3px double #111827; }
dl.cover { display: grid; grid-template-columns: max-content auto; gap: .3rem 1.2rem; }
dl.cover dt { font-weight: 600; }
"""


def html_page(pack: ClosePack) -> str:
    """The close pack as one self-contained HTML page."""
    e = html.escape
    title = f"Close pack {pack.period}" + (f": {pack.entity}" if pack.entity else "")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>", "<dl class='cover'>"]
    for label, value in cover_lines(pack):
        css = ""
        if label == "Status" and not pack.is_month_end:
            css = " class='warning'"
        elif label == "Checks":
            css = " class='passed'" if pack.checks_passed else " class='failed'"
        parts.append(f"<dt>{e(label)}</dt><dd{css}>{e(value)}</dd>")
    parts.append("</dl><ul>")
    for check in pack.checks:
        state = "<span class='passed'>passed</span>" if check.passed else "<span class='failed'>FAILED</span>"
        parts.append(f"<li>{state} {e(check.name)}" + (f" ({e(check.detail)})" if check.detail else "") + "</li>")
    parts.append(f"</ul><p class='meta'>{e(_MONEY_NOTE)}</p>")
    for sheet in pack.sheets:
        parts.append(_html_sheet(pack, sheet))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_sheet(pack: ClosePack, sheet: Sheet) -> str:
    e = html.escape
    out = [f"<section><h2>{e(sheet.title)}</h2>", f"<p class='meta'>{e(_when(pack))}</p>"]
    if not pack.is_month_end:
        out.append(f"<p class='warning'>{e(pack.status)}</p>")
    if any(c.title == "Prior period" for c in sheet.columns):
        out.append(f"<p class='meta'>{e(_comparatives(pack))}</p>")
    out += [f"<p class='meta'>{e(note)}</p>" for note in sheet.notes]
    columns = (Column("Currency"), *sheet.columns)
    out.append("<table><thead><tr>" + "".join(
        f"<th class='num'>{e(c.title)}</th>" if c.kind != "text" else f"<th>{e(c.title)}</th>" for c in columns)
        + "</tr></thead><tbody>")
    for row in sheet.rows:
        cells = [f"<td>{e(row.currency)}</td>"]
        for index, (value, column) in enumerate(zip(row.cells, sheet.columns, strict=True)):
            text = e(_display(value, column, row.currency))
            if column.kind != "text":
                cells.append(f"<td class='num'>{text}</td>")
            else:
                pad = f" style='padding-left:{0.7 + 1.2 * row.indent:.1f}rem'" if index == 0 and row.indent else ""
                cells.append(f"<td{pad}>{text}</td>")
        out.append(f"<tr class='{row.style}'>" + "".join(cells) + "</tr>")
    if not sheet.rows:
        out.append(f"<tr><td colspan='{len(columns)}'>Nothing in this period.</td></tr>")
    out.append("</tbody></table></section>")
    return "\n".join(out)
