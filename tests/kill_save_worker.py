"""Run by tests/test_reliability.py: a small run_loop run into RUN_DIR; with KILL_AT = n the process SIGKILLs itself
in the middle of writing its n-th checkpoint (half of the bytes written to the temp file). Prints the final weights
as JSON when it finishes."""
import json
import os
import signal
import sys

import torch

from lock_worker import _Holder   # the same weight holder as the lock test's worker
from mtlkit.train import run_loop


def main(run_dir: str, kill_at: int) -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.zeros(4))
    opt = torch.optim.Adam([w], lr=0.1)
    if kill_at:
        real_save, calls = torch.save, {"n": 0}

        def dying_save(obj, f, *a, **kw):
            calls["n"] += 1
            if calls["n"] < kill_at:
                return real_save(obj, f, *a, **kw)
            import io

            buffer = io.BytesIO()
            real_save(obj, buffer, *a, **kw)
            data = buffer.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = dying_save

    def step(i):
        opt.zero_grad()
        noise = torch.randn(4)                     # global RNG: the resume must restore it
        loss = ((w - 1.0 - 0.1 * noise) ** 2).sum()
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach())}

    history = run_loop(step, iterations=12, state={"w": _Holder(w), "opt": opt}, run_dir=run_dir,
                       checkpoint_every=3, log_every=1, progress=False)
    print(json.dumps({"resumed_from": history.resumed_from, "w": w.detach().tolist()}))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1], int(sys.argv[2]))
