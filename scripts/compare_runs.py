"""Compare two runtime JSON-lines outputs of the same clip (x86-64 against aarch64).

Same frames, same number of faces per frame, boxes within 4 pixels, the same top emotion
and gender, probabilities within 0.05. Prints the figures; exit 1 when they differ more.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def by_frame(path: Path) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[rec["frame"]].append(rec)
    return out


def main(a: str, b: str) -> int:
    ra, rb = by_frame(Path(a)), by_frame(Path(b))
    problems, faces, box_diff, prob_diff, same_top = [], 0, 0, 0.0, 0
    if sorted(ra) != sorted(rb):
        problems.append(f"frames differ: {len(ra)} vs {len(rb)}")
    for frame in sorted(set(ra) & set(rb)):
        fa = sorted(ra[frame], key=lambda r: r["box"][0])
        fb = sorted(rb[frame], key=lambda r: r["box"][0])
        if len(fa) != len(fb):
            problems.append(f"frame {frame}: {len(fa)} vs {len(fb)} faces")
            continue
        for x, y in zip(fa, fb):
            faces += 1
            box_diff = max(box_diff, max(abs(p - q) for p, q in zip(x["box"], y["box"])))
            tops = all(x[t]["label"] == y[t]["label"] for t in ("emotion", "gender") if t in x)
            same_top += tops
            for t in ("emotion", "gender"):
                if t in x:
                    prob_diff = max(
                        prob_diff, max(abs(x[t]["probs"][k] - y[t]["probs"][k]) for k in x[t]["probs"])
                    )
    print(
        f"{len(ra)} frames, {faces} faces compared: top classes agree on {same_top}/{faces}, "
        f"boxes differ by at most {box_diff} px, probabilities by at most {prob_diff:.4f}"
    )
    if box_diff > 4 or prob_diff > 0.05 or same_top < faces:
        problems.append("outputs differ beyond tolerance")
    if problems:
        print("error: " + "; ".join(problems[:5]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: compare_runs.py A.jsonl B.jsonl")
    sys.exit(main(sys.argv[1], sys.argv[2]))
