"""AutoMTL in the method slot: search a policy on the setup's supermodel, train its derived model by the setup's recipe.

The architecture AutoMTL finds is a policy (per conv node and task: shared, specific or skip), which is not a tree
layout in general, so this method also trains what it found (:meth:`AutoMTL.train`). To keep its numbers comparable
with the tree layouts of :func:`mtlkit.compare.compare`, everything but the architecture is theirs
(:func:`mtlkit.methods.spec_of`):

* the supermodel is compiled from the backbone the tree layouts start from (:meth:`ExperimentSpec.new_backbone`,
  seeded from ``setup.seed``) with their heads (:meth:`ExperimentSpec.build_heads`, seeded per task);
* the data are the setup's (:func:`mtlkit.setups.load_data`, with the ``train1``/``train2`` halves the policy stage
  alternates on; ``train`` is the loader the tree layouts train on, in the same order);
* the derived model is post-trained from those initial weights (``post_init="finetune"`` of a fresh supermodel)
  with the schedule of a tree layout: Adam (0.5, 0.999), ``setup.iterations`` steps, ``setup.lr``, weight decay
  1e-4, evaluated once at the end.

The search is the paper's NYUv2 preset (task weights 1, network lr 0.01 for short runs, as
:func:`mtlkit.automtl.synth.synth_setup`) rescaled to ``policy_iterations`` (default ``setup.iterations``: the
search costs one supermodel trained as long as one model), without pre-train, one τ = 1 sample with seed
``10 + 1000 · seed``. With a ``budget`` (backbones of parameters, TreeMTL's unit) it is the resource-aware variant
(:func:`mtlkit.automtl.synth.variant_config`'s ``"resource"``, with that budget). Both stages are kept in the run
cache.
"""
from __future__ import annotations

from mtlkit.checks import check_int
from mtlkit.errors import ConfigError
from mtlkit.methods import Architecture, spec_of

__all__ = ["AutoMTL"]

_DEPENDS = ("mtlkit.methods.automtl", "mtlkit.automtl.search", "mtlkit.treemtl.experiment")


class AutoMTL:
    """AutoMTL's search (policy-train, then one discretisation) on the supermodel of a setup.

    Args:
        policy_iterations: length of the policy stage (None: ``setup.iterations``).
        cache: keep the policy stage and the post-train in the run cache (:func:`mtlkit.cache.run_dir`).
    """

    name = "automtl"

    def __init__(self, policy_iterations: int | None = None, *, cache: bool = True):
        if policy_iterations is not None:
            check_int(policy_iterations, "policy_iterations", minimum=1)
        self.policy_iterations, self.cache = policy_iterations, cache
        self._loaded = None

    # ------------------------------------------------------------------------------------------------ pieces
    def data(self, setup):
        """The setup's data (:func:`mtlkit.setups.load_data` of the tree layouts' setup, with the halves),
        loaded once per setup."""
        from mtlkit.setups import load_data

        if self._loaded is None or self._loaded[0] != setup:
            self._loaded = (setup, load_data(spec_of(setup).setup(setup.device).replace(halves=True)))
        return self._loaded[1]

    def supermodel(self, setup):
        """A fresh :class:`~mtlkit.automtl.SuperModel` of the tree layouts' initial backbone and heads."""
        import torch

        from mtlkit.automtl.supermodel import SuperModel

        spec = spec_of(setup)
        channels = spec.build_blocks()[1][-1].out_shape[0]
        heads = spec.build_heads(setup.tasks, self.data(setup).tasks, channels)
        x = torch.zeros(1, 3, setup.input_size, setup.input_size)
        return SuperModel.from_backbone(spec.new_backbone(), heads, x).to(setup.device)

    def config(self, setup, budget: float | None, seed: int):
        """The :class:`~mtlkit.automtl.SearchConfig` of a search (see the module docstring)."""
        from mtlkit.automtl.search_config import SearchConfig

        spec = spec_of(setup)
        n = self.policy_iterations or setup.iterations
        cfg = SearchConfig.preset("nyuv2", loss_weights=None, post_loss_weights=None, device=setup.device,
                                  network_lr=0.01, checkpoint_every=max(1, n // 5), log_every=max(1, n // 50))
        cfg = cfg.scaled(n, pre_train_iterations=0, post_train_iterations=spec.iterations)
        cfg = cfg.replace(post_lr=float(spec.lr), post_lr_step=spec.lr_step, post_lr_gamma=float(spec.lr_gamma),
                          post_init="finetune", eval_every=0, seed=seed, sample_seed=10 + 1000 * seed)
        if budget is not None:
            cfg = cfg.replace(regularizer="resource", budget=float(budget), budget_weight=1.0, hard_fraction=0.25,
                              discretize="best_of", n_samples=8)
        return cfg

    def _run_dir(self, kind: str, setup, **key):
        from mtlkit.cache import run_dir

        if not self.cache:
            return None
        return run_dir(kind, depends_on=_DEPENDS, device=setup.device, setup=setup.key(), **key)

    # ------------------------------------------------------------------------------------------------ the slot
    def search(self, setup, budget: float | None, *, seed: int) -> Architecture:
        """Policy-train the setup's supermodel and discretise it; the architecture's ``spec`` is the policy."""
        from mtlkit.automtl.search import discretize, policy_train, policy_train_key

        cfg = self.config(setup, budget, seed)
        data, sm = self.data(setup), self.supermodel(setup)
        policy_train(sm, data.loaders, cfg, tasks=data.tasks, progress=False,
                     run_dir=self._run_dir("automtl-method-policy", setup, config=policy_train_key(cfg)))
        disc = discretize(sm, cfg, data.loaders, tasks=data.tasks)
        return Architecture(self.name, spec={"policy": disc.policy, "seed": seed, "budget": budget},
                            search_cost={"models": 1, "iterations": cfg.policy_train_iterations})

    def build(self, setup, architecture: Architecture):
        """The compact model derived from the policy (the initial weights of :meth:`train`)."""
        return self.supermodel(setup).derive(self._policy(architecture))

    def train(self, setup, architecture: Architecture, *, progress: bool = False) -> dict:
        """Post-train the derived model with the tree layouts' schedule; ``{"metrics", "params", "policy"}``."""
        from mtlkit.automtl.search import post_train

        spec = architecture.spec
        cfg = self.config(setup, spec.get("budget"), spec.get("seed", setup.seed))
        policy, data, sm = self._policy(architecture), self.data(setup), self.supermodel(setup)
        post = {k: getattr(cfg, k) for k in ("post_train_iterations", "post_lr", "post_lr_step", "post_lr_gamma",
                                             "post_init", "seed")}
        run = self._run_dir("automtl-method-post", setup, policy=policy, post=post)
        trained = post_train(sm, policy, data.loaders, cfg, tasks=data.tasks, run_dir=run, progress=progress)
        return {"metrics": trained.metrics, "params": trained.params, "policy": trained.policy}

    def _policy(self, architecture: Architecture) -> dict:
        spec = architecture.spec
        if not isinstance(spec, dict) or not isinstance(spec.get("policy"), dict):
            raise ConfigError(f"an AutoMTL architecture holds {{'policy': {{node: {{task: choice}}}}}} in its spec, "
                              f"got {spec!r}")
        return spec["policy"]
