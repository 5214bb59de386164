"""Workbooks built in memory for the import tests (openpyxl writes; the hub reads with calamine)."""

import io

import openpyxl


def book_bytes(book) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_bytes(rows, title: str = "Sheet") -> bytes:
    """An .xlsx file of one sheet named ``title`` holding ``rows``."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    return book_bytes(book)
