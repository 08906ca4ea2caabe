"""Apache Airflow provider for SOV Fixer (Ping Extraction) and the DATA Act Broker."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def _field(
    label: str, kind: str, default: Any = None, description: str | None = None, **schema: Any
) -> dict[str, Any]:
    """One connection-form field: a nullable ``kind`` with its default (and ``schema``'s other keys)."""
    schema = {"type": [kind, "null"], **schema}
    if default is not None:
        schema["default"] = default
    return {"label": label, **({"description": description} if description else {}), "schema": schema}


_SOV_FIELDS: dict[str, Any] = {
    "verify": _field(
        "Verify TLS",
        "boolean",
        True,
        "Check the server's TLS certificate (on by default; off logs a warning).",
    ),
    "ca_bundle": _field(
        "CA bundle path",
        "string",
        None,
        "A PEM file to check certificates against (a private certificate authority).",
    ),
    "trusted_hosts": _field(
        "Trusted hosts",
        "string",
        None,
        "Other hosts the credentials may be sent to, comma-separated (e.g. a download host of "
        "your own). Bare names mean HTTPS. Empty: the connection's own host only.",
    ),
    "connect_timeout": _field("Connect timeout (s)", "number", 10),
    "read_timeout": _field("Read timeout (s)", "number", 60),
    "max_requests_per_second": _field(
        "Max requests per second (deferred waits)",
        "number",
        None,
        "A budget all deferred waits on this connection share, per triggerer process: their "
        "status reads are spaced to it, most overdue first. Empty: no limit.",
    ),
    "outage_tolerance": _field(
        "Outage tolerance (s)",
        "number",
        600,
        "How long a wait keeps polling while the API fails (refused, 5xx, 429, timeouts), from the "
        "first failure after a good reading; a task's outage_tolerance wins. Empty: 600.",
    ),
}

_BROKER_FIELDS: dict[str, Any] = {
    "auth_mode": _field(
        "Auth mode",
        "string",
        "auto",
        "proxy: Treasury API proxy, Login = client_id, Password = client_secret. "
        "session: Password = an x-session-id from a CAIA login. "
        "login: Login and Password exchanged at /v1/login (local and test Brokers only). "
        "auto: proxy when the host is api.fiscal.treasury.gov, login when Login is set, else session.",
        enum=["auto", "proxy", "session", "login"],
    ),
    "website_url": _field(
        "Broker website",
        "string",
        None,
        "The Broker website of this environment, for the task's link to its submission. "
        "Empty: https://broker.usaspending.gov for Treasury's API and its proxy, else no link.",
    ),
    **_SOV_FIELDS,
}
#: The package's modules of each kind, per integration.
_MODULES = {
    "SOV Fixer": {
        "hooks": ["sov"],
        "operators": ["sov"],
        "sensors": ["sov"],
        "triggers": ["sov", "sov_history"],
    },
    "DATA Act Broker": {
        "hooks": ["broker"],
        "operators": ["broker"],
        "sensors": ["broker"],
        "triggers": ["broker"],
    },
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow: its hooks, operators, sensors, triggers and connection forms."""
    modules = {
        kind: [
            {
                "integration-name": name,
                "python-modules": [f"airflow_provider_sov.{kind}.{m}" for m in of[kind]],
            }
            for name, of in _MODULES.items()
        ]
        for kind in ("hooks", "operators", "sensors", "triggers")
    }
    return {
        "package-name": "airflow-provider-sov",
        "name": "SOV Fixer and DATA Act Broker",
        "description": (
            "Drive SOV Fixer (insurance Statement-of-Values parsing, updates and outputs) and the "
            "DATA Act Broker (D1, D2, E and F file generation) from DAGs, with deferrable waits."
        ),
        "versions": [__version__],
        "integrations": [
            {"integration-name": name, "external-doc-url": url, "tags": ["service"]}
            for name, url in (
                ("SOV Fixer", "https://api.sovfixer.com"),
                ("DATA Act Broker", "https://broker-api.usaspending.gov"),
            )
        ],
        **modules,
        # Buttons on tasks that open their job's page (the task records the address: no API call).
        "extra-links": [
            "airflow_provider_sov.links.PingMapsLink",
            "airflow_provider_sov.links.PingVisionLink",
            "airflow_provider_sov.links.BrokerSubmissionLink",
        ],
        "connection-types": [
            {
                "connection-type": "sovfixer",
                "hook-class-name": "airflow_provider_sov.hooks.sov.SovHook",
                "hook-name": "SOV Fixer",
                "conn-fields": _SOV_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"password": "API token"},
                    "placeholders": {
                        "host": "https://api.sovfixer.com",
                        "password": "the API token from your SOV Fixer account",
                    },
                },
            },
            {
                "connection-type": "data_act_broker",
                "hook-class-name": "airflow_provider_sov.hooks.broker.DataActBrokerHook",
                "hook-name": "DATA Act Broker",
                "conn-fields": _BROKER_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "login": "Login or client_id",
                        "password": "Password, client_secret or session ID",
                    },
                    "placeholders": {
                        "host": "https://api.fiscal.treasury.gov/ap/exp/v1/data-act-broker",
                        "login": "client_id (proxy) or user name (login mode); empty for a session ID",
                        "password": "client_secret, password, or x-session-id",
                    },
                },
            },
        ],
    }
