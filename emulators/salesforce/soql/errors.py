"""Errors: :class:`SoqlError` (what Salesforce answers with a 400) and the positioned form that echoes
the statement with a caret, as Salesforce's ``MALFORMED_QUERY`` messages do."""

from __future__ import annotations


class SoqlError(Exception):
    """A query Salesforce would reject; ``error_code`` and ``message`` go into the 400 response body."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


class PosError(Exception):
    """A lex/parse-time error at a position; the parser turns it into a SoqlError echoing the statement."""

    def __init__(self, code: str, line: int, column: int, detail: str) -> None:
        super().__init__(detail)
        self.code, self.line, self.column, self.detail = code, line, column, detail



def echo(soql: str, line: int, column: int, detail: str) -> str:
    """Salesforce's error shape: the offending line, a caret under the column, the position, the detail."""
    lines = soql.split("\n")  # rows as the lexer counts them: only \n ends a line
    src = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    start = 0
    if len(src) > 160:  # long statements: echo a window around the error, as Salesforce does
        start = max(0, column - 1 - 80)
        src = src[start : start + 160]
    caret = " " * max(0, column - 1 - start) + "^"
    return f"\n{src}\n{caret}\nERROR at Row:{line}:Column:{column}\n{detail}"


def error_at(code: str, soql: str, line: int, column: int, detail: str) -> SoqlError:
    return SoqlError(code, echo(soql, line, column, detail))

