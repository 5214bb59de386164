"""Workbooks (XLSX, XLSM, XLSB, XLS, ODS) through python-calamine."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile

from defusedxml import ElementTree
from python_calamine import CalamineWorkbook, PasswordError, SheetTypeEnum, SheetVisibleEnum

from .results import FileRefused

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")

NO_VALUE = "formula without a saved value"


def looks_like_workbook(data: bytes) -> bool:
    return data.startswith(ZIP_MAGIC) or data.startswith(OLE_MAGIC)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _sheet_names(names: list[str], metadata) -> str:
    shown = []
    for name, meta in zip(names, metadata, strict=False):
        hidden = meta.visible != SheetVisibleEnum.Visible
        shown.append(f"'{name}'" + (" (hidden)" if hidden else ""))
    return ", ".join(shown)


def open_sheet(data: bytes, sheet: str | None) -> tuple[str, list[list[object]], str | None]:
    """The chosen sheet's name, its rows from A1 (cached formula values), and the
    workbook's sheets as a message shows them (None when it has just the one).

    ``sheet`` is matched exactly; by default the first visible worksheet. The sheet list
    is for refusals about the chosen sheet's header: the stock may be on another sheet,
    and the user can only name it if told what the sheets are.
    """
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except PasswordError:
        raise FileRefused(
            "The workbook is password-protected. Remove the password and upload it again."
        ) from None
    except Exception as error:  # calamine raises several kinds for damaged or foreign files
        raise FileRefused(
            f"The file could not be read as a workbook ({error}). "
            "Save it again as XLSX or CSV and upload that."
        ) from None
    with book:
        names = list(book.sheet_names)
        metadata = list(book.sheets_metadata)
        if sheet is not None:
            if sheet not in names:
                raise FileRefused(
                    f"The workbook has no sheet named '{sheet}' (names must match exactly). "
                    f"Sheets: {_sheet_names(names, metadata)}"
                )
            name = sheet
        else:
            visible = [
                meta.name
                for meta in metadata
                if meta.visible == SheetVisibleEnum.Visible and meta.typ == SheetTypeEnum.WorkSheet
            ]
            if not visible:
                raise FileRefused(
                    "The workbook has no visible worksheet. Name the sheet to read in the import "
                    f"options. Sheets: {_sheet_names(names, metadata)}"
                )
            name = visible[0]
        try:
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as error:
            raise FileRefused(f"The sheet '{name}' could not be read ({error}).") from None
    return name, rows, (_sheet_names(names, metadata) if len(names) > 1 else None)


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _sheet_member(archive: zipfile.ZipFile, sheet: str) -> str | None:
    try:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    rel_id = None
    for element in book.iter():
        if _local(element.tag) == "sheet" and element.get("name") == sheet:
            rel_id = element.get(_REL_ID)
            break
    if rel_id is None:
        return None
    for element in rels.iter():
        if _local(element.tag) == "Relationship" and element.get("Id") == rel_id:
            target = element.get("Target") or ""
            if target.startswith("/"):
                return target.lstrip("/")
            return posixpath.normpath(posixpath.join("xl", target))
    return None


def xlsx_problem_cells(data: bytes, sheet: str, columns: set[int]) -> dict[tuple[int, int], str]:
    """Cells of an XLSX sheet that calamine shows as empty but are not: error values
    (``#REF!``…) and formulas with no saved result. Keys are (row, column), 1-based row,
    0-based column, limited to ``columns``; values the error text or ``NO_VALUE``.
    """
    if not data.startswith(ZIP_MAGIC):
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = _sheet_member(archive, sheet)
            if member is None:
                return {}
            with archive.open(member) as stream:
                head = stream.read()
            if not (_has_errors(head) or _has_formulas(head)):
                return {}
            return _scan(head, columns)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError):
        return {}


_P = rb"(?:[A-Za-z_][\w.-]*:)?"  # an optional namespace prefix
_ERROR_CELL = re.compile(rb"<" + _P + rb"c\b([^>]*)>(.*?)</" + _P + rb"c>", re.S)
_FORMULA_WITHOUT_VALUE = re.compile(
    rb"<" + _P + rb"c\b([^>]*)>\s*<" + _P + rb"f\b[^>]*?(?:/>|>[^<]*</" + _P + rb"f>)\s*"
    rb"(?:<" + _P + rb"v\s*/>|<" + _P + rb"v>\s*</" + _P + rb"v>)?\s*</" + _P + rb"c>"
)
_ATTRIBUTE_R = re.compile(rb"""\br\s*=\s*["']([A-Z]+)(\d+)["']""")
_ATTRIBUTE_T = re.compile(rb"""\bt\s*=\s*["'](\w+)["']""")
_VALUE = re.compile(rb"<" + _P + rb"v>([^<]*)</" + _P + rb"v>")


def _has_errors(xml: bytes) -> bool:
    return b't="e"' in xml or b"t='e'" in xml


def _has_formulas(xml: bytes) -> bool:
    return b"</f>" in xml or b"<f " in xml or b"<f/>" in xml or b":f>" in xml or b":f " in xml


def _cell_key(attributes: bytes, columns: set[int]) -> tuple[int, int] | None:
    match = _ATTRIBUTE_R.search(attributes)
    if match is None:
        return None
    column = _column_index(match[1].decode("ascii"))
    return (int(match[2]), column) if column in columns else None


def _cell_type(attributes: bytes) -> bytes | None:
    match = _ATTRIBUTE_T.search(attributes)
    return match[1] if match else None


def _scan(xml: bytes, columns: set[int]) -> dict[tuple[int, int], str]:
    """Regular expressions over the sheet XML: only the few problem cells are looked at."""
    found: dict[tuple[int, int], str] = {}
    if _has_errors(xml):
        for match in _ERROR_CELL.finditer(xml):
            attributes = match[1]
            if attributes.endswith(b"/") or _cell_type(attributes) != b"e":
                continue
            key = _cell_key(attributes, columns)
            if key is not None:
                value = _VALUE.search(match[2])
                found[key] = value[1].decode("utf-8", "replace").strip() if value else "#N/A"
    for match in _FORMULA_WITHOUT_VALUE.finditer(xml):
        attributes = match[1]
        if _cell_type(attributes) in (b"str", b"inlineStr", b"s", b"e"):
            continue
        key = _cell_key(attributes, columns)
        if key is not None:
            found.setdefault(key, NO_VALUE)
    return found
