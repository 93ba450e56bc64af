"""SOQL for the Salesforce emulator: SOQL text -> parameterised SQLite SELECT over the emulator store.

The phases (grammar, parse, literals, compile, shape) and the Salesforce semantics they follow are in
``README.md`` next to this file. Connections that run compiled SQL must call
:func:`register_sqlite_functions` once.
"""

from .compiler import MAX_NESTING, MAX_OFFSET, MAX_PARAMS, CompiledQuery, compile_query
from .compound import COMPOUND_TYPES, compound_key
from .errors import SoqlError
from .folding import case_variants, fold, register_sqlite_functions, sort_key
from .literals import MAX_STRING_LITERAL_CHARS
from .parser import MAX_STATEMENT_CHARS

__all__ = [
    "COMPOUND_TYPES",
    "MAX_NESTING",
    "MAX_OFFSET",
    "MAX_PARAMS",
    "MAX_STATEMENT_CHARS",
    "MAX_STRING_LITERAL_CHARS",
    "CompiledQuery",
    "SoqlError",
    "case_variants",
    "compile_query",
    "compound_key",
    "fold",
    "register_sqlite_functions",
    "sort_key",
]
