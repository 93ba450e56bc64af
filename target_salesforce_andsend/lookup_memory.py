"""The run's lookup memory: what the Matcher's lookups found, so later batches need not ask again."""

from __future__ import annotations

import threading
from collections import OrderedDict

from .catalog import EXTERNAL_ID_FIELD

# What a remembered row keeps: what the person steps match on, enough to pick among candidates,
# follow a converted Lead and say which record matched (badges); not the catalog's fields.
# Owner, do-not-contact flags and Lead Status go on badges (custom do-not-contact fields: ``extra_fields``).
_REMEMBERED_FIELDS = ("Id", "LastModifiedDate", "Email", EXTERNAL_ID_FIELD, "AccountId", "IsConverted",
                      "ConvertedContactId", "ConvertedAccountId", "OwnerId", "HasOptedOutOfEmail", "DoNotCall",
                      "Status", "Name", "Website")


class LookupMemory:
    """What the lookups of a run found (per e-mail or prospect id and object; per company and per
    registrable domain for Accounts: one entry for all the spellings sent for it, so a batch's
    companies fit however many spellings each has), so what an earlier batch looked up is not sent
    again: search results repeat people and companies across batches. Bounded (least recently used
    entries go first, Accounts and people bounded apart: people's e-mails rarely come back, and they
    must not push out the companies, which do; rows kept with only ``_REMEMBERED_FIELDS``), and
    forgotten whenever the
    target writes people or Accounts (``Matcher.forget``): an answer read before a ``clear`` is
    not stored after it (``generation``)."""

    def __init__(self, max_values: int = 50_000, extra_fields: tuple[str, ...] = (), max_people: int = 25_000) -> None:
        self._fields = (*_REMEMBERED_FIELDS, *extra_fields)
        # Accounts (max_values) and people (max_people: a batch's e-mails and prospect ids fit).
        self._pools: dict[bool, OrderedDict[tuple[str, str, str], list[dict]]] = {True: OrderedDict(),
                                                                                  False: OrderedDict()}
        self._max = {True: max_values, False: max_people}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Moves on every ``clear``: take it before a lookup, hand it to ``put`` after."""
        with self._lock:
            return self._generation

    def get(self, sobject: str, kind: str, value: str) -> list[dict] | None:
        """The remembered rows (now the most recently used), or None when not remembered: one lock
        hold, so an eviction cannot fall between asking and reading."""
        key = (sobject, kind, value)
        pool = self._pools[sobject == "Account"]
        with self._lock:
            found = pool.get(key)
            if found is not None:
                pool.move_to_end(key)
            return found

    def known(self, sobject: str, kind: str, value: str) -> bool:
        with self._lock:
            return (sobject, kind, value) in self._pools[sobject == "Account"]

    def rows(self, sobject: str, kind: str, value: str) -> list[dict]:
        found = self.get(sobject, kind, value)
        if found is None:
            raise KeyError((sobject, kind, value))
        return found

    def put(self, sobject: str, kind: str, value: str, rows: list[dict], generation: int | None = None) -> None:
        """Remember ``rows``; not when ``generation`` (taken before the lookup) is no longer current:
        the run wrote people or Accounts meanwhile and the answer may be stale."""
        slim = [{f: r[f] for f in self._fields if f in r} for r in rows]
        accounts = sobject == "Account"
        pool = self._pools[accounts]
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            pool[(sobject, kind, value)] = slim
            pool.move_to_end((sobject, kind, value))
            while len(pool) > self._max[accounts]:
                pool.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._generation += 1

    def __len__(self) -> int:
        with self._lock:
            return sum(len(pool) for pool in self._pools.values())

