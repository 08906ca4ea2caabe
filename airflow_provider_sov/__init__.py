"""Apache Airflow provider for SOV Fixer (Ping Extraction) and the DATA Act Broker."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]

_SOV_FIELDS: dict[str, Any] = {
    "verify": {
        "label": "Verify TLS",
        "description": "Check the server's TLS certificate (on by default; off logs a warning).",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle path",
        "description": "A PEM file to check certificates against (a private certificate authority).",
        "schema": {"type": ["string", "null"]},
    },
    "trusted_hosts": {
        "label": "Trusted hosts",
        "description": (
            "Other hosts the credentials may be sent to, comma-separated (e.g. a download host of "
            "your own). Bare names mean HTTPS. Empty: the connection's own host only."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "connect_timeout": {
        "label": "Connect timeout (s)",
        "schema": {"type": ["number", "null"], "default": 10},
    },
    "read_timeout": {
        "label": "Read timeout (s)",
        "schema": {"type": ["number", "null"], "default": 60},
    },
    "max_requests_per_second": {
        "label": "Max requests per second (deferred waits)",
        "description": (
            "A budget all deferred waits on this connection share, per triggerer process: their "
            "status reads are spaced to it, most overdue first. Empty: no limit."
        ),
        "schema": {"type": ["number", "null"]},
    },
    "outage_tolerance": {
        "label": "Outage tolerance (s)",
        "description": (
            "How long a wait keeps polling while the API fails (refused, 5xx, 429, timeouts), from the "
            "first failure after a good reading; a task's outage_tolerance wins. Empty: 600."
        ),
        "schema": {"type": ["number", "null"], "default": 600},
    },
}

_BROKER_FIELDS: dict[str, Any] = {
    "auth_mode": {
        "label": "Auth mode",
        "description": (
            "proxy: Treasury API proxy, Login = client_id, Password = client_secret. "
            "session: Password = an x-session-id from a CAIA login. "
            "login: Login and Password exchanged at /v1/login (local and test Brokers only). "
            "auto: proxy when the host is api.fiscal.treasury.gov, login when Login is set, else session."
        ),
        "schema": {
            "type": ["string", "null"],
            "enum": ["auto", "proxy", "session", "login"],
            "default": "auto",
        },
    },
    "website_url": {
        "label": "Broker website",
        "description": (
            "The Broker website of this environment, for the task's link to its submission. "
            "Empty: https://broker.usaspending.gov for Treasury's API and its proxy, else no link."
        ),
        "schema": {"type": ["string", "null"]},
    },
    **_SOV_FIELDS,
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow: its hooks, operators, sensors, triggers and connection forms."""
    return {
        "package-name": "airflow-provider-sov",
        "name": "SOV Fixer and DATA Act Broker",
        "description": (
            "Drive SOV Fixer (insurance Statement-of-Values parsing, updates and outputs) and the "
            "DATA Act Broker (D1, D2, E and F file generation) from DAGs, with deferrable waits."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "SOV Fixer",
                "external-doc-url": "https://api.sovfixer.com",
                "tags": ["service"],
            },
            {
                "integration-name": "DATA Act Broker",
                "external-doc-url": "https://broker-api.usaspending.gov",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {"integration-name": "SOV Fixer", "python-modules": ["airflow_provider_sov.hooks.sov"]},
            {"integration-name": "DATA Act Broker", "python-modules": ["airflow_provider_sov.hooks.broker"]},
        ],
        "operators": [
            {"integration-name": "SOV Fixer", "python-modules": ["airflow_provider_sov.operators.sov"]},
            {
                "integration-name": "DATA Act Broker",
                "python-modules": ["airflow_provider_sov.operators.broker"],
            },
        ],
        "sensors": [
            {"integration-name": "SOV Fixer", "python-modules": ["airflow_provider_sov.sensors.sov"]},
            {
                "integration-name": "DATA Act Broker",
                "python-modules": ["airflow_provider_sov.sensors.broker"],
            },
        ],
        "triggers": [
            {
                "integration-name": "SOV Fixer",
                "python-modules": [
                    "airflow_provider_sov.triggers.sov",
                    "airflow_provider_sov.triggers.sov_history",
                ],
            },
            {
                "integration-name": "DATA Act Broker",
                "python-modules": ["airflow_provider_sov.triggers.broker"],
            },
        ],
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
