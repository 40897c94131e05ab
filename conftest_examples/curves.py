"""Training curves of the zoo: ``python -m conftest_examples.curves [NAME ...]`` (needs matplotlib, the report extra).

For each example folder with ``training-seed*.json`` logs, writes ``training.png`` (validation PSNR against steps,
one line per seed, the TV baseline's validation PSNR dashed) and prints a Markdown table: per seed the final
validation PSNR, TV's, the difference, the gain over the last quarter of the steps (how converged the run is),
the steps and the wall-clock training time (on the shared 2-core machine, beside other jobs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).parent


def logs(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("training-seed*.json"))]


def last_quarter_gain(curve: list[dict]) -> float:
    """Validation PSNR at the end minus at 3/4 of the steps (the nearest point at or before it)."""
    end = curve[-1]
    mark = [p for p in curve if p["step"] <= 0.75 * end["step"]] or curve[:1]
    return end["val_psnr"] - mark[-1]["val_psnr"]


def table(runs: list[dict]) -> str:
    rows = ["| seed | steps done / planned | validation PSNR | TV | network − TV | gain over the last quarter | "
            "training time (wall) |", "|---|---|---|---|---|---|---|"]
    for run in runs:
        curve = run["curve"]
        end, tv = curve[-1], run["baseline_val_psnr"]
        rows.append(f"| {run['seed']} | {end['step']} / {run['steps']} | {end['val_psnr']:.2f} dB | {tv:.2f} dB | "
                    f"{end['val_psnr'] - tv:+.2f} dB | {last_quarter_gain(curve):+.2f} dB | "
                    f"{run['elapsed_s'] / 3600:.1f} h |")
    return "\n".join(rows)


def plot(folder: Path, runs: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    for run in runs:
        steps = [p["step"] for p in run["curve"]]
        ax.plot(steps, [p["val_psnr"] for p in run["curve"]], label=f"seed {run['seed']}")
    tv = runs[0]["baseline_val_psnr"]
    ax.axhline(tv, color="k", linestyle="--", linewidth=1, label=f"TV {tv:.2f} dB")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation PSNR (dB)")
    ax.set_title(f"{runs[0]['name']}: validation PSNR while training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = folder / "training.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="example folders (default: every one with training logs)")
    args = parser.parse_args()
    folders = [ROOT / n for n in args.names] or sorted(p for p in ROOT.iterdir() if p.is_dir())
    for folder in folders:
        runs = logs(folder)
        if not runs:
            continue
        print(f"## {folder.name} ({plot(folder, runs).relative_to(ROOT)})\n\n{table(runs)}\n")


if __name__ == "__main__":
    main()
