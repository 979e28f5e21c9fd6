"""Run by tests/test_train.py: train a tiny model into a given run_dir and print JSON (resumed_from, weight sum)."""
import json
import sys
import time

import torch

from mtlkit.train import run_loop


def main(run_dir: str) -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([w], lr=0.1)

    def step(i):
        time.sleep(0.05)  # long enough that the two processes overlap
        opt.zero_grad()
        loss = ((w - 1.0) ** 2).sum()
        loss.backward()
        opt.step()
        return {"loss": float(loss)}

    history = run_loop(step, iterations=20, state={"w": _Holder(w), "opt": opt}, run_dir=run_dir,
                       checkpoint_every=5, log_every=1, progress=False)
    print(json.dumps({"resumed_from": history.resumed_from, "w": float(w.detach().sum()),
                      "rows": len(history.train)}))


class _Holder:
    def __init__(self, p):
        self.p = p

    def state_dict(self):
        return {"p": self.p.detach().clone()}

    def load_state_dict(self, s):
        with torch.no_grad():
            self.p.copy_(s["p"])


if __name__ == "__main__":
    main(sys.argv[1])
