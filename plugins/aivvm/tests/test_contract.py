"""Aivvm under the provider contract suite (dogfooding provider_core.testing.ProviderContract).

Every runtime rule runs against the loopback Aivvm-protocol server, which also checks each
request against the protocol (a 400 with the reason when a body or header is wrong), so
the suite proves both the contract and that every request it made was valid Aivvm.
"""

from __future__ import annotations

from typing import Any

from provider_aivvm import Aivvm
from provider_aivvm.server import AivvmServer

from provider_core.testing import ProviderContract, RecordedRequest


class TestAivvmContract(ProviderContract):
    provider = Aivvm

    def make_server(self) -> AivvmServer:
        return AivvmServer(chunk_size=1, idle_timeout=10)

    def provider_kwargs(self, server: Any) -> dict[str, Any]:
        return {"base_url": server.url, "timeout": (5, 10)}

    def sent_model(self, request: RecordedRequest) -> str | None:
        return request.json["model"]["id"]
