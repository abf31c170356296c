"""Cells a spreadsheet will not run: every CSV Keydrop writes goes through `writer`.

Excel, LibreOffice and Google Sheets run a cell that starts with =, +, - or @ as a formula, and
Excel also runs | (DDE) and a cell whose leading tab or carriage return hides one of those. Names,
slugs and contact addresses come from customers and imports, so every text cell of every export
is checked, not chosen columns (OWASP, "CSV Injection"). A leading ' makes such a cell plain text;
the institution import reads it back without the quote.
"""

import csv

FORMULA_START = ("=", "+", "-", "@", "|", "\t", "\r")


def defuse(value):
    """A text cell that starts a formula gets a leading '; None is an empty cell; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in FORMULA_START:
        return "'" + value
    return value


def restore(value: str) -> str:
    """What `defuse` was given: a cell read back from one of Keydrop's exports."""
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_START else value


class _DefusingWriter:
    def __init__(self, out, **options):
        self._writer = csv.writer(out, **options)

    def writerow(self, row):
        return self._writer.writerow([defuse(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def writer(out, **options) -> _DefusingWriter:
    """csv.writer whose every cell is defused."""
    return _DefusingWriter(out, **options)
