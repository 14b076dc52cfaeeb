"""One-sheet XLSX workbooks written directly as SpreadsheetML, for the per-period report exports.

Why not openpyxl here: a report is exported once per period, and a ledger with years of history
has thousands of periods. openpyxl builds an object per cell and an element tree per row; it
spent ~70% of a 9-year export's CPU (issue 13). The files this module writes are the small,
fixed subset of the format the exports need -- one sheet, a bold frozen header row, an
autofilter, column widths, numbers, booleans, dates, text -- written in one pass from the
table's columns. openpyxl (tests) and spreadsheet programs read them; the close-pack workbook,
with its richer layout, is still drawn with openpyxl (``close_pack_render.py``).

Cells:
* ``int`` and ``Decimal``: numbers, written exactly as their decimal text (a money cell's
  ``Decimal`` carries the currency's decimals; its style gives the number format);
* ``bool``: a boolean cell; ``date``: a date serial with the ``yyyy-mm-dd`` format;
* ``str``: inline text. Characters XML cannot hold (control characters) are written as
  ``_xHHHH_`` escapes, as the format specifies, so hostile text cannot break the file;
* ``None``: no cell.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any
from xml.etree.ElementTree import iterparse

from openpyxl.utils import get_column_letter

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_EXCEL_EPOCH = date(1899, 12, 30)  # day 0 of the 1900 date system as spreadsheets count it
_SHEET_PATH = "xl/worksheets/sheet1.xml"
# XML 1.0 refuses these; OOXML writes them as _xHHHH_. A literal "_xHHHH_" in the text is itself
# escaped (its underscore as _x005F_) so that it reads back as written.
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_SHEET_TITLE_UNSAFE = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Cell:
    """A cell with a style: ``style`` is a key of the workbook's :class:`Styles`."""

    value: Any
    style: str


def escape_text(text: str) -> str:
    """``text`` as SpreadsheetML character data: XML-escaped, unsafe characters as ``_xHHHH_``."""
    text = _UNSAFE.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Styles:
    """The cell formats of a workbook: default, bold header, date, and one per number format."""

    def __init__(self, number_formats: Sequence[str]) -> None:
        self.number_formats = list(dict.fromkeys(number_formats))
        self.index = {"default": 0, "header": 1, "date": 2}
        for offset, fmt in enumerate(self.number_formats):
            self.index[fmt] = 3 + offset

    def xml(self) -> str:
        formats = ["yyyy-mm-dd", *self.number_formats]
        num_fmts = "".join(f'<numFmt numFmtId="{164 + i}" formatCode="{escape_text(f).replace(chr(34), "&quot;")}"/>'
                           for i, f in enumerate(formats))
        xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>',
               '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>']
        xfs += [f'<xf numFmtId="{164 + i}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
                for i in range(len(formats))]
        return (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{MAIN_NS}">'
            f'<numFmts count="{len(formats)}">{num_fmts}</numFmts>'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            '</styleSheet>'
        )


def _cell_xml(ref: str, value: Any, style: int) -> str:
    s = f' s="{style}"' if style else ""
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, Decimal)):
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    if isinstance(value, date) and not isinstance(value, datetime):
        return f'<c r="{ref}"{s}><v>{(value - _EXCEL_EPOCH).days}</v></c>'
    text = escape_text(value if isinstance(value, str) else str(value))
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def write_sheet(handle: IO[bytes], title: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
                widths: Sequence[float], number_formats: Sequence[str] = ()) -> None:
    """Write a one-sheet workbook to ``handle``: ``header`` in bold, frozen, with an autofilter
    over the table; ``rows`` of plain values or :class:`Cell` (a value with a number format of
    ``number_formats``); ``widths`` per column."""
    styles = Styles(number_formats)
    title = _SHEET_TITLE_UNSAFE.sub("_", title)[:31] or "report"
    letters = [get_column_letter(i) for i in range(1, len(header) + 1)]
    last = f"{letters[-1] if letters else 'A'}{len(rows) + 1}"
    parts = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN_NS}" xmlns:r="{_REL_NS}">',
             f'<dimension ref="A1:{last}"/>',
             '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
             'state="frozen"/><selection pane="bottomLeft"/></sheetView></sheetViews>',
             '<sheetFormatPr defaultRowHeight="15"/>']
    if widths:
        parts.append("<cols>" + "".join(f'<col min="{i}" max="{i}" width="{w:g}" customWidth="1"/>'
                                        for i, w in enumerate(widths, start=1)) + "</cols>")
    parts.append("<sheetData>")
    header_style = styles.index["header"]
    parts.append('<row r="1">' + "".join(_cell_xml(f"{c}1", h, header_style) for c, h in zip(letters, header, strict=True)) + "</row>")
    date_style = styles.index["date"]
    for number, row in enumerate(rows, start=2):
        cells = []
        for letter, value in zip(letters, row, strict=True):
            if isinstance(value, Cell):
                value, style = value.value, styles.index[value.style]
            elif isinstance(value, date) and not isinstance(value, datetime):
                style = date_style
            else:
                style = 0
            if value is not None:
                cells.append(_cell_xml(f"{letter}{number}", value, style))
        parts.append(f'<row r="{number}">' + "".join(cells) + "</row>")
    parts.append("</sheetData>")
    if header:
        parts.append(f'<autoFilter ref="A1:{last}"/>')
    parts.append("</worksheet>")
    quoted = title.replace("'", "''")
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{MAIN_NS}" xmlns:r="{_REL_NS}">'
        f'<sheets><sheet name="{escape_text(title)}" sheetId="1" r:id="rId1"/></sheets>'
        + (f'<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
           f"{escape_text(chr(39) + quoted + chr(39))}!$A$1:${letters[-1]}${len(rows) + 1}</definedName></definedNames>"
           if header else "")
        + "</workbook>"
    )
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", styles.xml())
        archive.writestr(_SHEET_PATH, "".join(parts))


def count_rows(path) -> int:
    """Rows in the first sheet of a workbook this module wrote, read back by parsing the sheet's XML
    (which also proves the archive and the XML are whole)."""
    with zipfile.ZipFile(path) as archive, archive.open(_SHEET_PATH) as sheet:
        rows = 0
        for _, element in iterparse(sheet, events=("end",)):
            if element.tag == f"{{{MAIN_NS}}}row":
                rows += 1
                element.clear()
        return rows


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL_NS}">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK_RELS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL_NS}">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/></Relationships>'
)
