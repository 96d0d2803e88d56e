"""Mutation testing of the core modules with cosmic-ray (README "Development").

    .venv/bin/python -m tests.mutation                      # every core module, every mutant
    .venv/bin/python -m tests.mutation --modules redact,retry_policy --sample 40 --seed 1

Never part of the test suite: each mutant is a one-line change to a module, then that
module's own tests (MODULE_TESTS) run against it; a mutant no test notices "survives".
The tests start real processes (the emulator, the provider server) that import the
package from disk, so mutants are written to files, not patched in memory: always in a
copy of the tracked files (`--workdir`), never in the working tree, with PYTHONPATH
pointing the copy's `provider/` ahead of the editable install. A baseline run of each
module's tests on the unmutated copy must pass first, and sets the per-mutant timeout.

`--sample N` runs N mutants per module chosen with `--seed` (the rest are marked
skipped and not counted): a full run of the about 2,300 mutants takes hours on two
cores. The report (`report.md` and `report.json` in the workdir) gives, per module,
killed / survived / incompetent and every survivor's diff.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORE = "provider/pulumi_dfns"
# Each module's own tests: the ones that exercise it, fast enough to run per mutant.
# -x: the first failure kills the mutant; no random order, no plugins' caches.
MODULE_TESTS: dict[str, list[str]] = {
    "inputs": ["tests/test_inputs.py", "tests/test_bad_input.py", "tests/test_secret_echo.py"],
    "client": [
        "tests/test_client.py",
        "tests/test_hostile_review.py",
        "tests/test_recovery_rounds.py",
    ],
    "transport": ["tests/test_transport.py", "tests/test_client.py", "tests/test_rate_limit.py"],
    "retry_policy": [
        "tests/test_rate_limit.py",
        "tests/test_client.py",
        "tests/test_hostile_review.py",
        "tests/test_recovery_rounds.py",
    ],
    "recovery": ["tests/test_recovery_rounds.py", "tests/test_hostile_review.py"],
    "signing": [
        "tests/test_client.py",
        "tests/test_user_action_binding.py",
        "tests/test_settings.py",
    ],
    "delivery": ["tests/test_verify_secrets.py", "tests/test_secret_echo.py"],
    "redact": ["tests/test_secret_echo.py", "tests/test_redaction.py", "tests/test_audit.py"],
    "provider": [
        "tests/test_inputs.py",
        "tests/test_explain.py",
        "tests/test_recovery_rounds.py",
        "tests/test_engine_protocol.py",
        "tests/test_operations.py",
    ],
}
PYTEST = "-m pytest -x -q -p no:randomly -p no:cacheprovider -p no:xdist"


def copy_tree(workdir: Path) -> Path:
    """The tracked files (and the uncommitted edits to them) in `workdir/src`."""
    source = workdir / "src"
    if source.exists():
        shutil.rmtree(source)
    listed = subprocess.run(
        [
            shutil.which("git") or "git",
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    return source


def environment(source: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(source / "provider"), str(source)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant and its restore may share an mtime
    env["PULUMI_DFNS_TEST_COMPILE"] = "0"  # nor may conftest write bytecode for them
    return env


def test_command(source: Path, module: str) -> str:
    tests = [t for t in MODULE_TESTS[module] if (source / t).exists()]
    return f"{sys.executable} {PYTEST} {' '.join(tests)}"


def baseline(source: Path, module: str) -> float:
    """Seconds the module's tests take unmutated; they must pass."""
    started = time.monotonic()
    run = subprocess.run(
        shlex.split(test_command(source, module)),
        cwd=source,
        env=environment(source),
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        sys.exit(f"{module}: its tests fail unmutated:\n{run.stdout[-3000:]}")
    return time.monotonic() - started


def sample(session: Path, size: int | None, seed: int) -> tuple[int, int]:
    """Mark all but `size` pending mutants skipped; (chosen, total)."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        # Ordered by what the mutant is (job ids are random per init): the same source
        # and seed choose the same mutants, so runs before and after a change compare.
        items = sorted(
            db.pending_work_items,
            key=lambda i: (i.mutations[0].operator_name, i.mutations[0].occurrence),
        )
        ids = [item.job_id for item in items]
        if size is None or size >= len(ids):
            return len(ids), len(ids)
        chosen = set(random.Random(seed).sample(ids, size))
        for job_id in ids:
            if job_id not in chosen:
                db.set_result(
                    job_id,
                    WorkResult(output="not in the sample", worker_outcome=WorkerOutcome.SKIPPED),
                )
        return size, len(ids)


def annotation_spans(module: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the module's annotations are: with `from __future__ import annotations`
    (every core module) they are never evaluated, so a mutant there cannot be told
    apart by any test: an equivalent mutant, accepted (README "Mutation testing")."""
    spans = []
    for node in ast.walk(ast.parse(module.read_text())):
        notes: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            notes.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            notes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            notes.append(node.annotation)
        for note in notes:
            if note is not None and note.end_lineno is not None:
                end = (note.end_lineno, note.end_col_offset or 0)
                spans.append(((note.lineno, note.col_offset), end))
    return spans


def results(session: Path, module: Path) -> dict[str, Any]:
    from cosmic_ray.work_db import WorkDB, use_db

    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0, "pending": 0}
    counts["equivalent"] = 0  # survivors in annotations (counted in survived too)
    spans = annotation_spans(module)
    survivors: list[dict[str, Any]] = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        done = dict(db.results)
        for item in db.work_items:
            result = done.get(item.job_id)
            if result is None:
                counts["pending"] += 1
            elif result.worker_outcome.value == "skipped":
                counts["skipped"] += 1
            elif result.test_outcome is None or result.test_outcome.value == "incompetent":
                counts["incompetent"] += 1
            elif result.test_outcome.value == "killed":
                counts["killed"] += 1
            else:
                counts["survived"] += 1
                mutation = item.mutations[0]
                start = tuple(mutation.start_pos)
                equivalent = any(a <= start < b for a, b in spans)
                counts["equivalent"] += equivalent
                survivors.append(
                    {
                        "job": item.job_id,
                        "line": mutation.start_pos[0],
                        "operator": mutation.operator_name,
                        "equivalent": equivalent,
                        "diff": result.diff,
                    }
                )
    judged = counts["killed"] + counts["survived"] - counts["equivalent"]
    score = round(100 * counts["killed"] / judged, 1) if judged else None
    return {**counts, "score": score, "survivors": survivors}


def run_module(workdir: Path, source: Path, module: str, size: int | None, seed: int) -> None:
    took = baseline(source, module)
    timeout = max(60.0, 3 * took)
    config = workdir / f"{module}.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{CORE}/{module}.py"\n'
        f"timeout = {timeout:.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(source, module))}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    session = workdir / f"{module}.sqlite"
    session.unlink(missing_ok=True)
    cosmic = str(Path(sys.executable).parent / "cosmic-ray")
    env = environment(source)
    subprocess.run([cosmic, "init", str(config), str(session)], cwd=source, env=env, check=True)
    chosen, total = sample(session, size, seed)
    print(f"{module}: {chosen} of {total} mutants, baseline {took:.1f}s", flush=True)
    subprocess.run([cosmic, "exec", str(config), str(session)], cwd=source, env=env, check=True)
    summary = {
        "module": module,
        "mutants": total,
        "run": chosen,
        **results(session, source / CORE / f"{module}.py"),
    }
    (workdir / f"{module}.json").write_text(json.dumps(summary, indent=1))
    print(
        f"{module}: score {summary['score']}% killed {summary['killed']} "
        f"survived {summary['survived']} (equivalent {summary['equivalent']}) "
        f"incompetent {summary['incompetent']}",
        flush=True,
    )


def report(workdir: Path, modules: list[str]) -> None:
    rows = []
    lines = [
        "| module | mutants | run | killed | survived (equivalent) | incompetent | score |",
        "|---" * 7 + "|",
    ]
    for module in modules:
        path = workdir / f"{module}.json"
        if not path.exists():
            continue
        s = json.loads(path.read_text())
        rows.append(s)
        lines.append(
            f"| {module} | {s['mutants']} | {s['run']} | {s['killed']} "
            f"| {s['survived']} ({s.get('equivalent', 0)}) "
            f"| {s['incompetent']} | {s['score']}% |"
        )
    for s in rows:
        for survivor in s["survivors"]:
            kind = "equivalent: an annotation" if survivor.get("equivalent") else "survived"
            where = f"{s['module']} line {survivor['line']} ({survivor['operator']})"
            lines += ["", f"{where}, {kind}:"]
            lines += ["```diff", survivor["diff"].strip(), "```"]
    (workdir / "report.md").write_text("\n".join(lines) + "\n")
    (workdir / "report.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines[: len(rows) + 2]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__)
    parser.add_argument("--modules", default=",".join(MODULE_TESTS))
    parser.add_argument("--sample", type=int, default=None, help="mutants per module")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".mutation")
    parser.add_argument("--source", type=Path, help="a copy to mutate (default: a fresh one)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--rescore", action="store_true", help="recount the sessions in --workdir, then report"
    )
    args = parser.parse_args(argv)
    modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    unknown = sorted(set(modules) - set(MODULE_TESTS))
    if unknown:
        parser.error(f"--modules: not a core module: {', '.join(unknown)}")
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.rescore:
        source = args.source.resolve() if args.source else workdir / "src"
        for module in modules:
            path = workdir / f"{module}.json"
            if path.exists():
                old = json.loads(path.read_text())
                fresh = results(workdir / f"{module}.sqlite", source / CORE / f"{module}.py")
                path.write_text(json.dumps({**old, **fresh}, indent=1))
    elif not args.report_only:
        source = args.source.resolve() if args.source else copy_tree(workdir)
        for module in modules:
            run_module(workdir, source, module, args.sample, args.seed)
    report(workdir, modules)


if __name__ == "__main__":
    main()
