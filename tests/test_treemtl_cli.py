"""``python -m mtlkit recommend``: help, runs, bad input."""
from __future__ import annotations

import argparse
import io
import subprocess
import sys

import pandas as pd
import pytest

from mtlkit.__main__ import main as _main
from mtlkit.treemtl import cli, published_table
from mtlkit.treemtl.estimator import PUBLISHED_DIR

NYU = str(PUBLISHED_DIR / "NYUv2_2task_metrics_resnet_1129_val_acc__Sheet1.csv")


def _run(argv, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    rc = cli.main(parser.parse_args(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_help_documents_every_option():
    proc = subprocess.run([sys.executable, "-m", "mtlkit", "recommend", "--help"], capture_output=True, text=True,
                          check=True)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
    assert len(options) == 18  # + --time-limit, --latency-budget-ms, --wide
    for option in options:
        assert option in proc.stdout
    assert "MACs" in proc.stdout and "what-if" in proc.stdout


def test_run_published_with_budget(capsys):
    rc, out, err = _run(["--published", "taskonomy/resnet34", "--budget", "3", "--k", "5"], capsys)
    assert rc == 0, err
    assert "resnet34@224" in out and "7,556 layouts" in out
    lines = out.splitlines()
    rows = lines[lines.index(next(line for line in lines if line.startswith("rank"))) + 1:]
    assert [r.split()[0] for r in rows] == ["1", "2", "3", "4", "5"]
    assert "1037" in rows[0] and "1046" in rows[1]


def test_run_table_csv_output(capsys, tmp_path):
    rc, out, _ = _run(["--table", NYU, "--task-names", "seg,normal,depth", "--backbone", "resnet34",
                       "--input-size", "321", "--format", "csv", "--k", "3"], capsys)
    assert rc == 0
    header, first, *_ = out.splitlines()
    assert header.startswith("rank,layout,paper_index,score,est_seg,est_normal,est_depth,macs")
    assert first.startswith('1,"[012]x3 [01,2]x2",45,4.04187545630478')
    rc, out, _ = _run(["--table", NYU, "--block-costs", "1,1,1,1,1", "--budget", "1.5", "--method", "search",
                       "--weights", "uniform", "--k", "2", "--format", "csv"], capsys)
    assert rc == 0 and len(out.splitlines()) == 3


@pytest.mark.parametrize("argv, message", [
    (["--published", "taskonomy/resnet34", "--budget", "0.5"], "below the cheapest layout"),
    (["--table", NYU, "--budget", "2"], "budget given without block_costs"),
    (["--table", "/no/such.csv"], "no such file"),
    ([], "give exactly one of --table"),
    (["--published", "cityscapes/resnet34"], "unknown dataset"),
    (["--table", NYU, "--block-costs", "1,2,x"], "expected comma-separated numbers"),
    (["--table", NYU, "--task-names", "a,b"], "only 2 task names"),
    (["--table", NYU, "--block-costs", "1,2,3", "--budget", "2"], "has 3 blocks"),
    (["--published", "nyuv2/resnet34", "--tasks", "0,1", "--drop-task", "2"], "at most one of --tasks and --drop"),
    (["--published", "nyuv2/resnet34", "--drop-task", "depth,normal"], "unknown task 'depth'"),
    (["--published", "nyuv2/resnet34", "--drop-task", "0,1"], "leaves 1 task(s)"),
    (["--published", "nyuv2/resnet34", "--tasks", ","], "expected comma-separated task names or indices"),
    (["--published", "nyuv2/resnet34", "--tasks", "0,7"], "task index must be in 0..2, got 7"),
])
def test_bad_input_exits_2_with_a_message(capsys, argv, message):
    rc, out, err = _run(argv, capsys)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and message in err


def test_published_tables_exist():
    assert published_table("nyuv2", "mobilenet").T == 3


def test_what_if_subsets_of_tasks(capsys):
    from mtlkit.treemtl import recommend

    tko = published_table("taskonomy", "resnet34")
    rc, out, err = _run(["--published", "taskonomy/resnet34", "--drop-task", "edge_texture", "--budget", "2",
                         "--k", "3", "--format", "csv"], capsys)
    assert rc == 0, err
    want = recommend(tko.without("edge_texture"), "resnet34@224", budget=2, k=3)
    got = pd.read_csv(io.StringIO(out), index_col="rank")
    assert got.paper_index.tolist() == want.paper_index.tolist() and got.layout.tolist() == list(map(str, want.layout))
    assert "est_edge_texture" not in out and "est_keypoints2d" in out
    rc, out, _ = _run(["--published", "taskonomy/resnet34", "--tasks", "keypoints2d,0,normal", "--k", "2"], capsys)
    assert rc == 0
    assert "tasks: 0=segment_semantic  1=normal  2=keypoints2d" in out and "51 layouts" in out
    assert "restricted to" in out
    top = recommend(tko.subset([0, 1, 3]), "resnet34@224", k=2)
    assert str(top.layout.iloc[0]) in out


def _named_csv(tmp_path, T, B=3):
    """A synthetic table written with task *names* in its '(a, b)-i' header (no --task-names needed)."""
    from mtlkit.treemtl import synthetic_table

    table = synthetic_table(T, B, "groups", seed=T)
    frame = table.to_frame()
    names = [f"attr{t}" for t in range(T)]
    frame.columns = [f"({names[a]}, {names[c]})-{i}" for a, c in cli_pairs(T) for i in (0, 1)]
    path = tmp_path / f"t{T}.csv"
    frame.to_csv(path)
    return path, table


def cli_pairs(T):
    from mtlkit.treemtl import pairs

    return pairs(T)


def test_time_limit_on_twenty_named_tasks(tmp_path, capsys):
    path, table = _named_csv(tmp_path, 20)
    rc, out, err = _run(["--table", str(path), "--block-costs", "1,2,3", "--budget", "3", "--k", "3",
                         "--time-limit", "1"], capsys)
    assert rc == 0, err
    flat = " ".join(out.split())  # the header is wrapped to 100 columns
    assert "tasks: 0=attr0 1=attr1" in flat and "anytime search (local search + relaxation" in flat
    assert "upper bound" in flat and "% of the score range)" in flat
    rc, out, err = _run(["--table", str(path), "--block-costs", "1,2,3", "--k", "2", "--format", "csv",
                         "--time-limit", "0.5"], capsys)
    assert rc == 0, err
    assert len(pd.read_csv(io.StringIO(out))) == 2


def test_time_limit_small_table_is_exact(capsys):
    rc, out, err = _run(["--published", "taskonomy/resnet34", "--budget", "3", "--time-limit", "5"], capsys)
    assert rc == 0, err
    assert "gap 0.000000 (0.00% of the score range); exact top-k" in " ".join(out.split())
    frames = []
    for extra in ([], ["--time-limit", "5"]):
        rc, out, err = _run(["--published", "taskonomy/resnet34", "--budget", "3", "--format", "csv"] + extra, capsys)
        assert rc == 0, err
        frames.append(pd.read_csv(io.StringIO(out)))
    assert frames[0].layout.tolist() == frames[1].layout.tolist()
    assert frames[0].score.tolist() == frames[1].score.tolist()


def test_many_task_errors(tmp_path, capsys):
    path, _ = _named_csv(tmp_path, 41, B=1)
    rc, _, err = _run(["--table", str(path), "--time-limit", "1", "--weights", "uniform"], capsys)
    assert rc == 2 and "at most 40 tasks" in err and "T=41" in err
    path, _ = _named_csv(tmp_path, 18)
    for limit in ("0", "-2"):
        with pytest.raises(SystemExit) as exc:  # argparse's own errors exit with status 2
            _main(["recommend", "--table", str(path), "--time-limit", limit])
        rc, err = exc.value.code, capsys.readouterr().err
        assert rc == 2 and err.startswith("error: --time-limit: expected a finite number > 0"), err
    rc, _, err = _run(["--table", str(path)], capsys)
    assert rc == 2 and "--time-limit" in err and "T=18" in err


def test_help_explains_the_layout_notation():
    proc = subprocess.run([sys.executable, "-m", "mtlkit", "recommend", "--help"], capture_output=True, text=True,
                          check=True)
    assert "[03,124]x5" in proc.stdout and "'xN' repeats a block" in " ".join(proc.stdout.split())
    assert "--wide" in proc.stdout


def test_default_output_fits_100_columns_and_wide_shows_all(capsys):
    argv = ["--published", "taskonomy/resnet34", "--budget", "2", "--k", "10"]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    assert max(map(len, out.splitlines())) <= cli.WIDTH
    assert "est_segment_semantic" not in out and "[03,124]x5" in out and "xN = N such blocks" in out
    rc, wide, err = _run([*argv, "--wide"], capsys)
    assert rc == 0 and "est_segment_semantic" in wide and "macs_pct" in wide
    assert max(map(len, wide.splitlines())) > cli.WIDTH


def test_long_layouts_are_shortened_only_in_the_default_table(capsys, tmp_path):
    path = tmp_path / "t12.csv"
    import numpy as np

    from mtlkit.treemtl.estimator import TwoTaskTable
    rng = np.random.default_rng(0)
    values = rng.normal(size=(12, 12, 6))
    values[:, :, 0] = 0
    TwoTaskTable(values, tuple(f"t{i}" for i in range(12))).to_csv(path)
    rc, out, err = _run(["--table", str(path), "--k", "3", "--method", "search", "--weights", "uniform"], capsys)
    assert rc == 0, err
    assert max(map(len, out.splitlines())) <= cli.WIDTH


def test_task_names_come_from_a_named_header_or_a_published_file_name(capsys, tmp_path):
    rc, out, err = _run(["--table", "examples/my_2task.csv", "--k", "2"], capsys)
    assert rc == 0, err
    assert "tasks: 0=segment_semantic  1=normal  2=depth_zbuffer" in out
    copy = tmp_path / "Taskonomy_2task_metrics_resnet_0123_val_acc__Sheet1.csv"
    copy.write_bytes((PUBLISHED_DIR / copy.name).read_bytes())
    rc, out, err = _run(["--table", str(copy), "--k", "2"], capsys)
    assert rc == 0 and "4=edge_texture" in out
    rc, out, err = _run(["--table", NYU, "--k", "2", "--task-names", "a,b,c"], capsys)
    assert rc == 0 and "tasks: 0=a  1=b  2=c" in out  # explicit names win
    named = tmp_path / "named.csv"
    text = (PUBLISHED_DIR / copy.name).read_text()  # 5 tasks, numeric header -> letters
    for i, name in enumerate("vwxyz"):
        text = text.replace(f"({i},", f"({name},").replace(f", {i})", f", {name})")
    named.write_text(text)
    rc, out, err = _run(["--table", str(named), "--k", "1"], capsys)
    assert rc == 0 and "tasks: 0=v  1=w  2=x  3=y  4=z" in out, err
