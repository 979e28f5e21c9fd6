"""Helpers of the first two course notebooks (00 quickstart, 01 multi-task basics), kept here so cells stay short.

* :data:`QUICKSTART_SIZES`: the SynthScenes sizes both notebooks train at (same sizes, same cached runs);
* :func:`train_hard_shared`: build from a seed and train (or load from the run cache) a ``tiny_resnet`` with light
  heads on some tasks — a single-task model for one task, a hard-shared model for several;
* :func:`shared_gradients`: each task's gradient on the shared backbone of a trained model;
* figures: :func:`plot_label_gallery` (the five tasks' labels), :func:`pairwise_delta_matrix` and
  :func:`plot_pairwise_delta` (the pairwise experiment), :func:`plot_planted_tasks` (planted targets).

matplotlib and torch are imported inside the functions (``import mtlkit.viz.basics`` stays light).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, Sequence

__all__ = ["QUICKSTART_SIZES", "quickstart_sizes", "n_params", "train_hard_shared", "shared_gradients",
           "plot_label_gallery", "pairwise_delta_matrix", "plot_pairwise_delta", "plot_planted_tasks"]

#: scale -> images rendered, resolution, training iterations and batch size of notebooks 00 and 01
QUICKSTART_SIZES: Mapping[str, Mapping[str, int]] = MappingProxyType({
    "smoke": MappingProxyType(dict(n_train=16, n_test=8, resolution=32, iterations=3, batch=4)),
    "cpu": MappingProxyType(dict(n_train=1024, n_test=128, resolution=64, iterations=600, batch=16)),
    "paper": MappingProxyType(dict(n_train=4096, n_test=512, resolution=128, iterations=5000, batch=32)),
})


def quickstart_sizes(scale: str) -> dict[str, int]:
    """The sizes of :data:`QUICKSTART_SIZES` at ``scale`` (a new dict)."""
    from mtlkit.config import check_scale

    check_scale(scale)
    return dict(QUICKSTART_SIZES[scale])


def n_params(model) -> int:
    """The number of parameters of a module."""
    return sum(p.numel() for p in model.parameters())


def train_hard_shared(names: Sequence[str], tasks: Mapping, loader, config, data_key: Mapping, seed: int,
                      verbose: bool = True):
    """Build (seeded) and train, or load from the run cache, the ``tiny_resnet`` + light-heads model of ``names``.

    Args:
        names: the tasks the model is trained on (one name: a single-task model, cached as ``stl-<name>``).
        tasks: task objects by name (a superset of ``names``).
        loader: the training loader.
        config: the :class:`~mtlkit.train.TrainConfig`.
        data_key: what identifies the data in the run cache's key.
        seed: the seed of the initial weights.
        verbose: print whether the run was trained or loaded.

    Returns:
        ``(model, history)``.
    """
    from mtlkit.cache import run_dir
    from mtlkit.errors import ConfigError
    from mtlkit.models import build_model
    from mtlkit.train import seed_everything, train

    names = tuple(names)
    unknown = [n for n in names if n not in tasks]
    if not names or unknown:
        raise ConfigError(f"names: expected task names out of {sorted(tasks)}, got {list(names)!r}")
    subset = {n: tasks[n] for n in names}
    seed_everything(seed)
    model = build_model("tiny_resnet", subset, head="light")
    kind = f"stl-{names[0]}" if len(names) == 1 else "hard-shared"
    run = run_dir(kind, model="tiny_resnet+light", trained=list(names), data=dict(data_key), config=config)
    history = train(model, subset, loader, config, run_dir=run)
    if verbose:
        cached = history.resumed_from == config.iterations  # a finished run in the cache returns at once
        print(f"{' + '.join(names):45s} {'loaded from the run cache' if cached else 'trained'}  ({run.name})")
    return model, history


def shared_gradients(model, tasks: Mapping, names: Sequence[str], dataset, batch_size: int, seed: int,
                     device: str = "cpu", n_batches: int = 4) -> dict:
    """Per task: the gradient of its loss w.r.t. the backbone, summed over a few training batches (flattened).

    The model is copied and put in train mode (batch norm as in training); the original keeps its statistics.

    Returns:
        ``{name: 1-D tensor}`` (one entry per backbone parameter).
    """
    import copy

    import torch

    model = copy.deepcopy(model).train()
    params = list(model.backbone.parameters())
    grads = {n: torch.zeros(sum(p.numel() for p in params)) for n in names}
    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)
    for k, batch in enumerate(loader):
        if k == n_batches:
            break
        batch = {key: v.to(device) for key, v in batch.items()}
        preds = model(batch["image"])
        for n in names:
            g = torch.autograd.grad(tasks[n].loss(preds[n], batch), params, retain_graph=True)
            grads[n] += torch.cat([x.reshape(-1) for x in g]).cpu()
    return grads


def plot_label_gallery(dataset, title: str = "SynthScenes: exact labels for five tasks"):
    """Every scene of ``dataset`` (with all five dense tasks) as a row: image and the five labels.

    Returns:
        The matplotlib Figure (a class legend below, a depth colour bar beside the depth column).
    """
    import matplotlib.pyplot as plt

    from mtlkit.data.synthetic import CLASS_NAMES, NUM_CLASSES, denormalize

    fig, axes = plt.subplots(len(dataset), 6, figsize=(15, 2.6 * len(dataset)), squeeze=False)
    titles = ["image", "segment_semantic", "depth_zbuffer (m)", "normal (RGB = xyz)", "keypoints2d", "edge_texture"]
    for i in range(len(dataset)):
        s = dataset[i]
        panels = [
            (denormalize(s["image"]).permute(1, 2, 0), {}),
            (s["segment_semantic"], dict(cmap="tab10", vmin=0, vmax=9, interpolation="nearest")),
            (s["depth_zbuffer"][0], dict(cmap="viridis")),
            ((s["normal"].permute(1, 2, 0) + 1) / 2, {}),
            (s["keypoints2d"][0], dict(cmap="magma", vmin=0, vmax=1)),
            (s["edge_texture"][0], dict(cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")),
        ]
        for j, (ax, (im, kw)) in enumerate(zip(axes[i], panels)):
            h = ax.imshow(im.numpy(), **kw)
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
            if i == 0:
                ax.set_title(titles[j], fontsize=11)
            if j == 2:
                fig.colorbar(h, ax=ax, fraction=0.046, pad=0.02)
    handles = [plt.Rectangle((0, 0), 1, 1, color=plt.cm.tab10(k / 9)) for k in range(NUM_CLASSES)]
    fig.legend(handles, CLASS_NAMES, loc="lower center", ncol=NUM_CLASSES, title="segmentation classes",
               bbox_to_anchor=(0.5, -0.04), frameon=False)
    fig.suptitle(f"{title} ({len(dataset)} test scenes)", y=1.0)
    fig.tight_layout()
    return fig


def pairwise_delta_matrix(deltas: Mapping, tasks: Sequence[str]):
    """The task × partner matrix of Δt: row = the task scored, column = the task it shared the backbone with.

    Args:
        deltas: ``{(a, b): DeltaResult}`` of the two-task models (other keys, such as a three-task model, are left
            out).
        tasks: the tasks, in the matrix's order.

    Returns:
        A DataFrame with NaN on the diagonal (the single-task models).
    """
    import numpy as np
    import pandas as pd

    matrix = pd.DataFrame(np.nan, index=list(tasks), columns=list(tasks))
    for key, delta in deltas.items():
        if len(key) == 2:
            a, b = key
            matrix.loc[a, b], matrix.loc[b, a] = delta.per_task[a], delta.per_task[b]
    return matrix


def plot_pairwise_delta(matrix, overall: Mapping[str, float], title: str):
    """The pairwise experiment: the Δt matrix as a heatmap, and each model's ΔT as a bar.

    Args:
        matrix: :func:`pairwise_delta_matrix`'s frame.
        overall: ``{model label: ΔT}`` of every multi-task model.
        title: the figure title.

    Returns:
        The matplotlib Figure.
    """
    import itertools

    import matplotlib.pyplot as plt
    import numpy as np

    names = list(matrix.index)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw=dict(width_ratios=[1.1, 1]))
    lim = max(1.0, float(np.nanmax(np.abs(matrix.values))))
    im = ax.imshow(matrix.values, cmap="RdBu", vmin=-lim, vmax=lim)
    for i, j in itertools.product(range(len(names)), repeat=2):
        v = matrix.values[i, j]
        ax.text(j, i, "STL" if i == j else f"{v:+.1f}", ha="center", va="center", fontsize=11,
                color="black" if i == j or abs(v) < 0.6 * lim else "white")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("partner task (shares the backbone)")
    ax.set_ylabel("task scored")
    ax.grid(False)
    ax.set_title("$\\Delta_t$ of the row task, trained with the column task (%)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="$\\Delta_t$ (%)  > 0: sharing helps")
    models = list(overall)
    bx.barh(models, [overall[n] for n in models], color=["#4C72B0" if overall[n] >= 0 else "#C44E52" for n in models])
    for k, n in enumerate(models):
        bx.annotate(f"{overall[n]:+.2f}", (overall[n], k), xytext=(4 if overall[n] >= 0 else -4, 0),
                    textcoords="offset points", ha="left" if overall[n] >= 0 else "right", va="center", fontsize=10)
    bx.axvline(0, color="black", lw=0.8)
    bx.margins(x=0.25)
    bx.invert_yaxis()
    bx.set_xlabel("$\\Delta_T$ (%), mean over the model's tasks")
    bx.set_title("hard-shared model vs its single-task models")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_planted_tasks(sample: Mapping, planted: Sequence):
    """One scene's image and its planted targets, each titled with its factor weights.

    Args:
        sample: a SynthScenes sample holding ``image`` and every planted task's target.
        planted: the :class:`~mtlkit.data.synthetic.PlantedTask` objects.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    from mtlkit.data.synthetic import denormalize

    fig, axes = plt.subplots(1, 1 + len(planted), figsize=(2.2 * (1 + len(planted)), 2.4))
    axes[0].imshow(denormalize(sample["image"]).permute(1, 2, 0).numpy())
    axes[0].set_title("image", fontsize=8)
    for ax, p in zip(axes[1:], planted):
        ax.imshow(sample[p.name][0].numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"{p.name}\n{' '.join(f'{w:+g}·{f}' for f, w in zip(p.factors, p.weights))}", fontsize=7)
    for ax in axes:
        ax.axis("off")
    return fig
