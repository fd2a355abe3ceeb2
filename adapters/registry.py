"""Configured adapters by name, checked against the specs that use them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from adapters.base import Adapter, QueryError


class AdapterRegistry(Mapping[str, Adapter]):
    def __init__(self, adapters: Iterable[Adapter] = ()) -> None:
        self._adapters: dict[str, Adapter] = {}
        for adapter in adapters:
            self.add(adapter)

    def add(self, adapter: Adapter) -> None:
        if adapter.name in self._adapters:
            raise ValueError(f"adapter '{adapter.name}' is configured twice")
        self._adapters[adapter.name] = adapter

    def __getitem__(self, name: str) -> Adapter:
        return self._adapters[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._adapters)

    def __len__(self) -> int:
        return len(self._adapters)

    def validate(self, uses: Iterable[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Check each (document type, adapter name, query) a spec declares; raise naming the document."""
        for document_type, name, query in uses:
            adapter = self._adapters.get(name)
            if adapter is None:
                raise QueryError(f"{document_type}: adapter '{name}' is not configured")
            try:
                adapter.validate_query(query)
            except QueryError as exc:
                raise QueryError(f"{document_type}: {exc}") from None

    async def close(self) -> None:
        for adapter in self._adapters.values():
            await adapter.close()
