"""
Operators for SOV Fixer: updates (:mod:`.sov_update`), outputs (:mod:`.sov_outputs`) and parses
(:mod:`.sov_parse`) and new submissions (:mod:`.sov_submission`), importable from here.
"""

from __future__ import annotations

from airflow_provider_sov.operators.sov_outputs import (
    SovDownloadOutputsOperator,
    SovGetOrCreateOutputOperator,
)
from airflow_provider_sov.operators.sov_parse import SovParseOperator
from airflow_provider_sov.operators.sov_submission import SovCreateSubmissionOperator
from airflow_provider_sov.operators.sov_update import (
    SovAddLocationsOperator,
    SovInitiateUpdateOperator,
    SovStartUpdateOperator,
    SovUpdateOperator,
)

__all__ = [
    "SovAddLocationsOperator",
    "SovCreateSubmissionOperator",
    "SovDownloadOutputsOperator",
    "SovGetOrCreateOutputOperator",
    "SovInitiateUpdateOperator",
    "SovParseOperator",
    "SovStartUpdateOperator",
    "SovUpdateOperator",
]
