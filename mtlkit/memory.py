"""Training memory and compute of real iterations, measured on the CPU without any CUDA tool.

:class:`TrainingMeter` is a context manager put around unchanged training code (``mtlkit.train.train``, AutoMTL's
stages, TreeMTL's grid entries). While it is active it measures, with three global hooks that do not change what
the code computes:

* **activations** — every tensor autograd saves for the backward pass goes through
  ``torch.autograd.graph.saved_tensors_hooks``; the meter counts each underlying storage once while it is alive
  (it is released when autograd frees the graph after ``backward``) and keeps the peak of the live bytes. Leaf
  tensors that require grad (parameters) are not activations and are left out.
* **parameters, gradients, optimizer state** — after every ``optimizer.step()`` (a global
  ``torch.optim.Optimizer`` step post-hook) it reads the optimizer's parameters, their ``.grad`` and the state tensors
  (Adam's two moments, SGD's momentum buffer), exactly; optimizers alive at the same time (AutoMTL's policy and
  network optimizers) are summed, distinct parameters counted once.
* **time and FLOPs per iteration** — the wall time and the FLOPs (``torch.utils.flop_counter.FlopCounterMode``,
  forward and backward) between consecutive optimizer steps; the medians over the run are the per-iteration figures
  (robust to the few intervals that also hold model building, evaluation or AutoMTL's discretisation).

:meth:`MemoryEstimate.at_batch` scales the measurement to another batch size: activations (and FLOPs) grow
linearly with the batch, parameters, gradients and optimizer state do not. What a GPU adds on top — the CUDA
context (about 0.3–1 GB), cuDNN workspaces and allocator fragmentation — is not measured here; :data:`GPU_OVERHEAD`
is the margin added before comparing with a GPU's memory.
"""
from __future__ import annotations

import statistics
import time
import weakref
from dataclasses import dataclass

import torch

__all__ = ["GPU_OVERHEAD", "GPUS", "MemoryEstimate", "TrainingMeter"]

#: Bytes added to every estimate before it is compared with a GPU (CUDA context, workspaces, fragmentation).
GPU_OVERHEAD = 2 * 1024 ** 3
#: GPUs the estimates are compared with: name -> memory in bytes (the AutoMTL paper's RTX 8000 and an 80 GB card).
GPUS = {"48 GB (RTX 8000)": 48 * 1024 ** 3, "80 GB (A100/H100)": 80 * 1024 ** 3}


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak training memory measured at ``batch`` images per step (bytes).

    Attributes:
        batch: the batch size the run used.
        params: bytes of the parameters the optimizers update.
        grads: bytes of their gradients.
        optimizer_state: bytes of the optimizers' state tensors.
        activations: peak bytes of the tensors saved for backward.
    """

    batch: int
    params: int
    grads: int
    optimizer_state: int
    activations: int

    @property
    def total(self) -> int:
        """Parameters + gradients + optimizer state + activations (bytes, without :data:`GPU_OVERHEAD`)."""
        return self.params + self.grads + self.optimizer_state + self.activations

    def at_batch(self, batch: int) -> "MemoryEstimate":
        """The estimate at another batch size (activations scale linearly, the rest does not)."""
        from mtlkit.errors import ConfigError

        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be a positive int, got {batch!r}")
        return MemoryEstimate(batch, self.params, self.grads, self.optimizer_state,
                              round(self.activations * batch / self.batch))

    def fits(self, gpu_bytes: int) -> bool:
        """Whether ``total + GPU_OVERHEAD`` fits a GPU of ``gpu_bytes``."""
        return self.total + GPU_OVERHEAD <= gpu_bytes

    def max_batch(self, gpu_bytes: int) -> int:
        """The largest batch whose estimate fits a GPU of ``gpu_bytes`` (0: not even one image)."""
        fixed = self.params + self.grads + self.optimizer_state + GPU_OVERHEAD
        per_image = self.activations / self.batch
        return max(0, int((gpu_bytes - fixed) // per_image)) if per_image > 0 else 10 ** 9

    def as_dict(self) -> dict[str, float]:
        """The parts and the total in GiB."""
        g = 1024 ** 3
        return {"batch": self.batch, "params GiB": self.params / g, "grads GiB": self.grads / g,
                "optimizer GiB": self.optimizer_state / g, "activations GiB": self.activations / g,
                "total GiB": self.total / g}


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class TrainingMeter:
    """Measure memory, time and FLOPs of the training iterations run inside a ``with`` block (module docstring).

    Attributes (after the block):
        activations: peak live bytes of tensors saved for backward.
        steps: number of optimizer steps seen.
        seconds_per_step: median wall time between consecutive optimizer steps (NaN if fewer than 2 steps).
        flops_per_step: median FLOPs between consecutive optimizer steps.
    """

    def __init__(self, count_flops: bool = True):
        self.count_flops = count_flops
        self.activations = 0
        self._live: dict[int, list] = {}  # storage pointer -> [references, bytes]
        self._live_bytes = 0
        self._optimizers: dict[int, tuple] = {}  # id -> (weak reference, (params, grads, state), param pointers)
        self._peak_model = (0, 0, 0)
        self._marks: list[tuple[float, int]] = []
        self._handles = []

    # --------------------------------------------------------------------------------------------- activations
    def _pack(self, t: torch.Tensor):
        base = t if t._base is None else t._base
        if base.is_leaf and base.requires_grad:  # a parameter (or a view of one, e.g. a transposed weight)
            return t
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        box = _Saved(t)
        entry = self._live.get(ptr)
        if entry is None:
            entry = self._live[ptr] = [0, storage.nbytes()]
            self._live_bytes += entry[1]
            self.activations = max(self.activations, self._live_bytes)
        entry[0] += 1
        weakref.finalize(box, self._release, ptr)
        return box

    def _release(self, ptr: int) -> None:
        entry = self._live.get(ptr)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self._live_bytes -= entry[1]
            del self._live[ptr]

    @staticmethod
    def _unpack(box):
        return box.tensor if isinstance(box, _Saved) else box

    # ------------------------------------------------------------------------------------------------- steps
    def _after_step(self, optimizer, args, kwargs) -> None:
        ptrs, params, grads = set(), 0, 0
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.data_ptr() in ptrs:
                    continue
                ptrs.add(p.data_ptr())
                params += _nbytes(p)
                grads += _nbytes(p.grad) if p.grad is not None else 0
        state = sum(_nbytes(v) for s in optimizer.state.values() for v in s.values()
                    if isinstance(v, torch.Tensor) and v.dim() > 0)
        self._optimizers[id(optimizer)] = (weakref.ref(optimizer), (params, grads, state), ptrs)
        # the optimizers alive now (AutoMTL: policy + network together); finished stages' optimizers are gone
        self._optimizers = {k: v for k, v in self._optimizers.items() if v[0]() is not None}
        seen: set = set()
        total = [0, 0, 0]
        for _, sizes, pt in self._optimizers.values():
            if pt & seen:
                continue
            seen |= pt
            total = [a + b for a, b in zip(total, sizes)]
        if sum(total) > sum(self._peak_model):
            self._peak_model = tuple(total)
        flops = self._flops.get_total_flops() if self._flops is not None else 0
        self._marks.append((time.perf_counter(), flops))

    # -------------------------------------------------------------------------------------------- context
    def __enter__(self) -> "TrainingMeter":
        from torch.optim.optimizer import register_optimizer_step_post_hook
        from torch.utils.flop_counter import FlopCounterMode

        self._saved = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._saved.__enter__()
        self._handles.append(register_optimizer_step_post_hook(self._after_step))
        self._flops = FlopCounterMode(display=False) if self.count_flops else None
        if self._flops is not None:
            self._flops.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._flops is not None:
            self._flops.__exit__(*exc)
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._saved.__exit__(*exc)

    @property
    def steps(self) -> int:
        """Optimizer steps seen."""
        return len(self._marks)

    def _deltas(self, k: int) -> list[float]:
        return [b[k] - a[k] for a, b in zip(self._marks, self._marks[1:])]

    @property
    def seconds_per_step(self) -> float:
        """Median wall time between consecutive optimizer steps."""
        d = self._deltas(0)
        return statistics.median(d) if d else float("nan")

    @property
    def flops_per_step(self) -> float:
        """Median FLOPs (forward + backward) between consecutive optimizer steps."""
        d = self._deltas(1)
        return statistics.median(d) if d else float("nan")

    def estimate(self, batch: int) -> MemoryEstimate:
        """The peak memory measured in the block, for runs at ``batch`` images per step."""
        params, grads, state = self._peak_model
        return MemoryEstimate(batch, params, grads, state, self.activations)


class _Saved:
    """A saved tensor in the meter's hands (its lifetime is the saved tensor's lifetime in the graph)."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor
