"""Reading search results: agreement between policies, the policy log, per-depth summaries.

* :func:`policy_agreement` — the fraction of (node, task) decisions on which two policies agree (how much a seed
  alone changes the chosen architecture);
* :func:`agreement_matrix` — the same for every pair of a list of policies;
* :func:`read_policy_log` — ``policy_log.csv`` of a policy-train run directory as a DataFrame.
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Mapping, Sequence

from mtlkit.automtl.policy import ALIASES
from mtlkit.errors import ConfigError

__all__ = ["policy_agreement", "agreement_matrix", "mean_pairwise_agreement", "read_policy_log"]


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
