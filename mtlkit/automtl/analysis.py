"""Reading search results: agreement between policies, the policy log, per-depth summaries.

* :func:`policy_agreement` — the fraction of (node, task) decisions on which two policies agree (how much a seed
  alone changes the chosen architecture);
* :func:`agreement_matrix` — the same for every pair of a list of policies;
* :func:`read_policy_log` — ``policy_log.csv`` of a policy-train run directory as a DataFrame;
* :func:`policy_stats` — how far a learned policy has left the uniform start: the mean entropy of its choice
  distributions and the mean absolute logit.
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Mapping, Sequence

from mtlkit.automtl.policy import ALIASES
from mtlkit.errors import ConfigError

__all__ = ["policy_agreement", "agreement_matrix", "mean_pairwise_agreement", "read_policy_log", "policy_stats",
           "POLICY_STATS"]

#: The metrics of :func:`policy_stats` (results rows of every searched method, task ``"all"``).
POLICY_STATS = ("policy_entropy", "policy_entropy_max", "mean_abs_logit")


def _canon(policy: Mapping, which: str) -> dict[tuple[str, str], str]:
    if not isinstance(policy, Mapping) or not policy:
        raise ConfigError(f"{which} must be a non-empty policy {{node: {{task: choice}}}}, got {policy!r:.80}")
    out = {}
    for node, row in policy.items():
        if not isinstance(row, Mapping):
            raise ConfigError(f"{which}[{node!r}] must be a dict {{task: choice}}, got {type(row).__name__}")
        for task, choice in row.items():
            out[(node, task)] = ALIASES.get(choice, choice)
    return out


def policy_agreement(a: Mapping, b: Mapping) -> float:
    """The fraction of (node, task) decisions that two policies make alike (1 = identical architectures).

    Args:
        a: a policy ``{node: {task: choice}}``.
        b: a policy over the same nodes and tasks.

    Returns:
        A number in [0, 1].

    Raises:
        ConfigError: the policies cover different (node, task) pairs.
    """
    ca, cb = _canon(a, "a"), _canon(b, "b")
    if set(ca) != set(cb):
        only = sorted(set(ca) ^ set(cb))[:4]
        raise ConfigError(f"the policies cover different (node, task) pairs, e.g. {only}")
    return sum(ca[k] == cb[k] for k in ca) / len(ca)


def agreement_matrix(policies: Sequence[Mapping]):
    """Pairwise :func:`policy_agreement` as a symmetric ``(n, n)`` numpy array (ones on the diagonal)."""
    import numpy as np

    n = len(policies)
    out = np.ones((n, n))
    for i, j in combinations(range(n), 2):
        out[i, j] = out[j, i] = policy_agreement(policies[i], policies[j])
    return out


def mean_pairwise_agreement(policies: Sequence[Mapping]) -> float:
    """The mean agreement over all pairs of ``policies`` (at least two)."""
    if len(policies) < 2:
        raise ConfigError(f"mean_pairwise_agreement needs at least two policies, got {len(policies)}")
    pairs = list(combinations(range(len(policies)), 2))
    return sum(policy_agreement(policies[i], policies[j]) for i, j in pairs) / len(pairs)


def read_policy_log(run_dir: str | Path):
    """``policy_log.csv`` of a policy-train run (columns ``iteration, node, task, p_shared, p_specific, p_skip,
    tau``) as a pandas DataFrame.

    Args:
        run_dir: the policy-train folder (or the search folder holding ``policy_train/``).
    """
    import pandas as pd

    from mtlkit.automtl.search import POLICY_LOG

    path = Path(run_dir)
    for candidate in (path / POLICY_LOG, path / "policy_train" / POLICY_LOG, path):
        if candidate.is_file():
            return pd.read_csv(candidate)
    raise FileNotFoundError(f"no {POLICY_LOG} in {str(path)!r} or {str(path / 'policy_train')!r}")


def policy_stats(logits: Mapping) -> dict[str, float]:
    """How decided a learned policy is: entropy of its choice distributions and size of its logits.

    Every (node, task) has the distribution ``softmax(logits[node][task])`` over the node's k choices (k = 3 where
    the node offers a skip, else 2). A policy that never left its zero initialisation has every distribution
    uniform: entropy ``log k`` (log 3 = 1.0986 nats) and logits 0.

    Args:
        logits: ``{node: tensor (T, k)}`` (e.g. :meth:`SuperModel.logits_by_node`), rows in task order.

    Returns:
        ``policy_entropy`` — the mean over nodes × tasks of the distribution's entropy, in nats;
        ``policy_entropy_max`` — the same mean for uniform distributions (the mean of ``log k``: the ceiling of
        ``policy_entropy``, log 3 when every node offers three choices);
        ``mean_abs_logit`` — the mean absolute logit over every (node, task, choice).

    Raises:
        ConfigError: ``logits`` empty, or an entry not a 2-d tensor with at least two choices.
    """
    import math

    import torch

    if not isinstance(logits, Mapping) or not logits:
        raise ConfigError(f"logits must be a non-empty {{node: tensor (T, k)}}, got {logits!r:.80}")
    entropy = ceiling = abs_sum = 0.0
    rows = entries = 0
    for node, x in logits.items():
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] < 2 or x.shape[0] < 1:
            raise ConfigError(f"logits[{node!r}] must be a tensor (tasks, k >= 2 choices), got "
                              f"{getattr(x, 'shape', type(x).__name__)}")
        x = x.detach().double().cpu()
        logp = torch.log_softmax(x, dim=1)
        entropy += float(-(logp.exp() * logp).sum())
        ceiling += x.shape[0] * math.log(x.shape[1])
        abs_sum += float(x.abs().sum())
        rows += x.shape[0]
        entries += x.numel()
    return {"policy_entropy": entropy / rows, "policy_entropy_max": ceiling / rows,
            "mean_abs_logit": abs_sum / entries}
