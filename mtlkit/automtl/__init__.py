"""AutoMTL (Zhang, Liu, Guan — NeurIPS 2022): compile any CNN backbone into a multi-task supermodel and search it.

Compiler: :class:`SuperModel` (``from_backbone``, modes, tree execution), policies
(:mod:`~mtlkit.automtl.policy`), :func:`derive` (compact models), accounting (:func:`count_params`,
:func:`param_report`, :func:`flops_report`) and :func:`plot_policy` (matplotlib imported on call only).

Search: :class:`SearchConfig` (the paper's presets, :meth:`~SearchConfig.scaled`), :func:`search` and its stages
:func:`pre_train`, :func:`policy_train`, :func:`discretize`, :func:`post_train`; the regulariser, τ schedule and
resource-aware penalty (:mod:`~mtlkit.automtl.regularizer`); baselines (:mod:`~mtlkit.automtl.baselines`);
policy agreement and logs (:mod:`~mtlkit.automtl.analysis`).
"""
from __future__ import annotations

from mtlkit.automtl.accounting import count_params, flops_report, full_param_breakdown, param_report
from mtlkit.automtl.derive import derive
from mtlkit.tracing import TracedBackbone, trace_backbone
from mtlkit.automtl.policy import (
    CHOICES, SHARED, SKIP, SPECIFIC, policy_counts, policy_from_vectors, validate_policy,
)
from mtlkit.automtl.supermodel import MODES, SKIP_MODES, SuperModel, VirtualNode
from mtlkit.automtl.viz import plot_policy
from mtlkit.automtl.regularizer import (
    ResourceCosts, depth_weights, paper_regularizer, paper_regularizer_from_probs, policy_probs, tau_at,
)
from mtlkit.automtl.search_config import PRESETS, SearchConfig
from mtlkit.automtl.search import (
    Discretization, PolicyTrainer, PolicyTrainResult, PostTrained, SearchResult, discretize, policy_train,
    post_train, pre_train, score_policies, search,
)
from mtlkit.automtl.baselines import (
    hard_sharing_policy, random_policy, single_task_policy, train_baseline,
)
from mtlkit.automtl.analysis import agreement_matrix, mean_pairwise_agreement, policy_agreement, read_policy_log

__all__ = [
    "SuperModel", "VirtualNode", "MODES", "SKIP_MODES", "derive", "count_params", "param_report",
    "full_param_breakdown", "flops_report", "trace_backbone", "TracedBackbone", "plot_policy",
    "SHARED", "SPECIFIC", "SKIP", "CHOICES", "validate_policy", "policy_counts", "policy_from_vectors",
    # search
    "SearchConfig", "PRESETS", "search", "pre_train", "policy_train", "discretize", "score_policies", "post_train",
    "PolicyTrainer", "PolicyTrainResult", "Discretization", "PostTrained", "SearchResult",
    "depth_weights", "tau_at", "paper_regularizer", "paper_regularizer_from_probs", "policy_probs", "ResourceCosts",
    "single_task_policy", "hard_sharing_policy", "random_policy", "train_baseline",
    "policy_agreement", "agreement_matrix", "mean_pairwise_agreement", "read_policy_log",
]
