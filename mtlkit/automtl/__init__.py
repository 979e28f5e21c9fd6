"""AutoMTL (Zhang, Liu, Guan — NeurIPS 2022): compile any CNN backbone into a multi-task supermodel and search it.

Compiler (this package): :class:`SuperModel` (``from_backbone``, modes, tree execution), policies
(:mod:`~mtlkit.automtl.policy`), :func:`derive` (compact models), accounting (:func:`count_params`,
:func:`param_report`, :func:`flops_report`) and :func:`plot_policy` (matplotlib imported on call only).
"""
from __future__ import annotations

from mtlkit.automtl.accounting import count_params, flops_report, full_param_breakdown, param_report
from mtlkit.automtl.derive import derive
from mtlkit.automtl.graph import TracedBackbone, trace_backbone
from mtlkit.automtl.policy import (
    CHOICES, SHARED, SKIP, SPECIFIC, policy_counts, policy_from_vectors, validate_policy,
)
from mtlkit.automtl.supermodel import MODES, SKIP_MODES, SuperModel, VirtualNode
from mtlkit.automtl.viz import plot_policy

__all__ = [
    "SuperModel", "VirtualNode", "MODES", "SKIP_MODES", "derive", "count_params", "param_report",
    "full_param_breakdown", "flops_report", "trace_backbone", "TracedBackbone", "plot_policy",
    "SHARED", "SPECIFIC", "SKIP", "CHOICES", "validate_policy", "policy_counts", "policy_from_vectors",
]
