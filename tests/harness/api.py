"""The harness's commands, shaped like the CLI's: preview, up, refresh, destroy,
stack output. Each returns a Result (ok, what the user read, the steps, the state).

Which config each command uses, as the engine decides:
- preview / up run the program and configure the default provider from the CURRENT
  stack config (source_eval.go: default provider inputs from target.GetPackageConfig).
- refresh, destroy, and the refresh phase of `up --refresh` / `preview --refresh` do
  not run the program (pkg/engine/refresh.go newRefreshSource returns an error source;
  destroy.go newDestroySource): they configure the provider from the default provider's
  inputs STORED in the state (deployment.go EnsureProvider -> providers/registry.go
  Same -> Configure(FilterProviderConfig(res.Inputs))).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from pulumi.runtime.proto import engine_pb2_grpc

from . import checkpoint as ckpt
from .checkpoint import PROVIDER_TYPE_PREFIX, STACK_TYPE, Checkpoint, ResourceState
from .engine import (
    PAST,
    SYMBOLS,
    Deployment,
    DeploymentError,
    Engine,
    Result,
    Step,
    delete_op,
    mark_secret_outputs,
    run_program,
)
from .plugin import ProviderCallError, ProviderStartError
from .project import Project, ProjectError
from .wire import redacted, strip_secrets

USER_ACTIONABLE = 32  # the exec script's exit code after it logged the error
# pkg/backend/backenderr/backenderr.go: what `up`, `refresh`, `destroy` answer when
# neither --yes nor --skip-preview is given in a non-interactive session.
NON_INTERACTIVE = (
    "--yes or --skip-preview or --preview-only must be passed in to proceed when running "
    "in non-interactive mode"
)


class Harness:
    """One project directory and one local state directory (like a `file://` backend).

    `env` is the environment of `pulumi` (default: os.environ): the program and the
    provider inherit it, PULUMI_CONFIG_PASSPHRASE keys the checkpoint's secrets and
    PULUMI_HARNESS_SECRETS holds plaintexts of `secure:` config values.
    """

    def __init__(
        self,
        project_dir: Path,
        state_dir: Path,
        env: dict[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.state_dir = Path(state_dir)
        self.env = dict(os.environ if env is None else env)
        self.echo = echo

    # -- state ---------------------------------------------------------------------------

    def project(self) -> Project:
        return Project.load(self.project_dir)

    def checkpoint_path(self, stack: str) -> Path:
        return ckpt.checkpoint_path(self.state_dir, self.project().name, stack)

    def checkpoint(self, stack: str) -> Checkpoint:
        return ckpt.read(self.checkpoint_path(stack), stack, self._passphrase())

    def _passphrase(self) -> str:
        return self.env.get("PULUMI_CONFIG_PASSPHRASE", "")

    def _save(self, stack: str, state: Checkpoint) -> None:
        ckpt.write(self.checkpoint_path(stack), state, self._passphrase())

    # -- commands ------------------------------------------------------------------------

    def preview(self, stack: str, refresh: bool = False) -> Result:
        return self._guard(stack, lambda: self._update(stack, preview=True, refresh=refresh))

    def up(
        self, stack: str, yes: bool = True, skip_preview: bool = False, refresh: bool = False
    ) -> Result:
        """`pulumi up --yes`: a preview, then the update (pkg/backend/apply.go
        PreviewThenPromptThenExecute: --yes skips only the confirmation, --skip-preview
        the preview and implies --yes, cmd operations/up.go)."""
        if not yes and not skip_preview:
            return self._fail(stack, NON_INTERACTIVE)

        def run() -> Result:
            first = None
            if not skip_preview:
                first = self._update(stack, preview=True, refresh=refresh)
                if not first.ok:
                    return first
            second = self._update(stack, preview=False, refresh=refresh)
            if first is not None:
                second.output = first.output + "\n" + second.output
                second.provider_stderr = first.provider_stderr + second.provider_stderr
                second.program_output = first.program_output + second.program_output
            return second

        return self._guard(stack, run)

    def refresh(self, stack: str, yes: bool = True, skip_preview: bool = False) -> Result:
        """Like `up`, a preview first (PreviewThenPromptThenExecute); a refresh's
        preview reads every resource too (step.go RefreshStep.Apply has no dry-run
        branch), so without --skip-preview each webhook is read twice."""
        if not yes and not skip_preview:
            return self._fail(stack, NON_INTERACTIVE)
        return self._guard(stack, lambda: self._refresh_command(stack, skip_preview))

    def destroy(self, stack: str, yes: bool = True, skip_preview: bool = False) -> Result:
        if not yes and not skip_preview:
            return self._fail(stack, NON_INTERACTIVE)
        return self._guard(stack, lambda: self._destroy(stack, skip_preview))

    def stack_output(
        self, stack: str, name: str | None = None, show_secrets: bool = False, as_json: bool = False
    ) -> Result:
        state = self.checkpoint(stack)
        outputs = state.stack_outputs()
        shown = strip_secrets(outputs) if show_secrets else redacted(outputs)
        if name is not None:
            if name not in shown:
                return self._fail(
                    stack, f'current stack does not have output property "{name}"', state
                )
            value = shown[name]
            text = json.dumps(value, indent=2) if as_json or not isinstance(value, str) else value
        elif as_json:
            text = json.dumps(shown, indent=2)
        else:
            rows = [
                f"    {k}  {json.dumps(v) if not isinstance(v, str) else v}"
                for k, v in sorted(shown.items())
            ]
            text = "\n".join([f"Current stack outputs ({len(shown)}):", "    OUTPUT  VALUE", *rows])
        self._emit(text)
        return Result(True, text, [], state)

    # -- internals -----------------------------------------------------------------------

    def _emit(self, text: str) -> None:
        if self.echo is not None:
            self.echo(text)

    def _fail(self, stack: str, message: str, state: Checkpoint | None = None) -> Result:
        text = f"error: {message}"
        self._emit(text)
        return Result(False, text, [], state or Checkpoint(stack))

    def _guard(self, stack: str, run: Callable[[], Result]) -> Result:
        try:
            return run()
        except ProjectError as exc:
            return self._fail(stack, str(exc))

    def _update(self, stack: str, preview: bool, refresh: bool) -> Result:
        project = self.project()
        config = project.stack_config(stack, self.env)
        old = self.checkpoint(stack)
        header = f"{'Previewing update' if preview else 'Updating'} ({stack}):"
        refresh_steps: list[Step] = []
        refresh_diag: Deployment | None = None
        if refresh and old.resources:
            # deployment_executor.go Execute: "Before doing anything else, optionally
            # refresh each resource in the base checkpoint" -- with the stored config.
            refresh_diag, old, refresh_steps = self._refreshed(project, stack, old, preview)
        d = Deployment(project, stack, old, self.env, preview, self._emit)
        try:
            code, printed = run_program(d, config)
            for line in printed.splitlines():
                if line.strip():
                    d.diag("", line)  # the program's output: info lines of the stack
            if code == USER_ACTIONABLE:
                d.errors += 1  # main.go Run: Bail, the program showed its own error
            elif code != 0:
                # main.go Run: "program exited with non-zero exit code: %d"
                d.error("", f"program exited with non-zero exit code: {code}")
            if not d.errors:
                d.generate_deletes()
            new = d.snapshot()
        finally:
            d.close()
        ok = d.errors == 0
        if not preview:
            self._save(stack, new)
        steps = refresh_steps + d.steps
        merged = self._merge_diagnostics(refresh_diag, d)
        text = render(header, steps, merged, d.stack_urn, new if not preview else None, preview, ok)
        self._emit(text)
        stderr = (refresh_diag.provider_stderr if refresh_diag else []) + d.provider_stderr
        program = [line for line in printed.splitlines() if line.strip()]
        return Result(ok, text, steps, new if not preview else old, stderr, program)

    @staticmethod
    def _merge_diagnostics(first: Deployment | None, second: Deployment) -> dict[str, list[str]]:
        merged: dict[str, list[str]] = {}
        for d in (first, second):
            if d is None:
                continue
            for urn, lines in d.diagnostics.items():
                merged.setdefault(urn, []).extend(lines)
        return merged

    def _refreshed(
        self, project: Project, stack: str, old: Checkpoint, preview: bool
    ) -> tuple[Deployment, Checkpoint, list[Step]]:
        """Read every custom resource with the STORED provider config (step.go
        RefreshStep.Apply): an empty id drops the resource; otherwise the read outputs,
        and the read inputs when the provider returns them, replace the old ones."""
        d = Deployment(project, stack, old, self.env, preview, self._emit)
        server, address = _engine_server(d)
        steps: list[Step] = []
        resources: list[ResourceState] = []
        try:
            stored = d.stored_provider_state()
            for res in old.resources:
                if not res.custom or res.type.startswith(PROVIDER_TYPE_PREFIX) or d.errors:
                    resources.append(res)
                    continue
                try:
                    if d.provider is None:
                        if stored is None:
                            raise ProviderStartError("no default provider in the state")
                        d.provider = d.start_provider(stored, address)
                    rid, outs, inputs = d.provider.read(res.urn, res.id, res.inputs, res.outputs)
                except (ProviderCallError, ProviderStartError) as exc:
                    d.error(res.urn, str(exc))
                    resources.append(res)
                    continue
                if not rid:
                    steps.append(Step("delete", res.urn, res.type))
                    continue
                new = res.copy()
                new.id, new.outputs = rid, outs
                if inputs is not None:
                    new.inputs = inputs
                mark_secret_outputs(new)
                drift = strip_secrets(res.outputs) != strip_secrets(new.outputs)
                steps.append(Step("update" if drift else "same", res.urn, res.type))
                resources.append(new)
        finally:
            d.close()
            server.stop(grace=None)
        return d, Checkpoint(stack, resources), steps

    def _refresh_command(self, stack: str, skip_preview: bool) -> Result:
        project = self.project()
        old = self.checkpoint(stack)
        first = ""
        if not skip_preview:
            d, _, steps = self._refreshed(project, stack, old, preview=True)
            first = render(
                f"Previewing refresh ({stack}):",
                steps,
                d.diagnostics,
                d.stack_urn,
                None,
                True,
                d.errors == 0,
            )
            self._emit(first)
            if d.errors:
                return Result(False, first, steps, old, d.provider_stderr)
            first += "\n"
        d, new, steps = self._refreshed(project, stack, old, preview=False)
        ok = d.errors == 0
        # The harness's own simplification (not cited): a failed refresh keeps the old
        # state whole; the real snapshot manager persists each refresh step that
        # finished before the failure.
        self._save(stack, new if ok else old)
        text = render(
            f"Refreshing ({stack}):", steps, d.diagnostics, d.stack_urn, None, False, ok, "refresh"
        )
        self._emit(text)
        return Result(ok, first + text, steps, new if ok else old, d.provider_stderr)

    def _destroy(self, stack: str, skip_preview: bool) -> Result:
        """destroy.go: no program; every resource deleted in reverse snapshot order
        with the provider configured from the stored config. Its preview lists the
        deletes (step.go DeleteStep.Apply calls no provider in a dry run)."""
        project = self.project()
        old = self.checkpoint(stack)
        first = ""
        if not skip_preview:
            planned = [
                Step(delete_op(r), r.urn, r.type)
                for r in reversed(old.resources)
                if not r.type.startswith(PROVIDER_TYPE_PREFIX)
            ]
            root = next((r.urn for r in old.resources if r.type == STACK_TYPE), "")
            # step.go DeleteStep.Apply refuses a protected resource before its dry-run
            # branch: the preview fails too.
            check = Deployment(project, stack, old, self.env, True, self._emit)
            for r in reversed(old.resources):
                if r.protect and not r.delete:
                    try:
                        check.delete_step(r, replacing=False)
                    except DeploymentError as exc:
                        check.error(r.urn, str(exc))
                    break
            ok = check.errors == 0
            first = render(
                f"Previewing destroy ({stack}):", planned, check.diagnostics, root, None, True, ok
            )
            self._emit(first)
            if not ok:
                return Result(False, first, planned, old)
            first += "\n"
        d = Deployment(project, stack, old, self.env, False, self._emit)
        server, address = _engine_server(d)
        steps: list[Step] = []
        remaining = list(old.resources)
        d._engine_address = address
        try:
            for res in reversed(old.resources):
                if res.type.startswith(PROVIDER_TYPE_PREFIX):
                    continue
                try:
                    # step.go DeleteStep.Apply: protect refuses, External and
                    # RetainOnDelete skip the provider (Deployment.delete_step).
                    d.delete_step(res, replacing=res.delete)
                except (ProviderCallError, ProviderStartError, DeploymentError) as exc:
                    d.error(res.urn, str(exc))
                    break  # step_executor.go: a failed step cancels the rest
                steps.append(Step(delete_op(res), res.urn, res.type))
                remaining.remove(res)
        finally:
            d.close()
            server.stop(grace=None)
        ok = d.errors == 0
        if ok:
            remaining = []
        new = Checkpoint(stack, remaining)
        self._save(stack, new)
        text = render(
            f"Destroying ({stack}):", steps, d.diagnostics, d.stack_urn, None, False, ok, "destroy"
        )
        if ok:
            text += (
                "\nThe resources in the stack have been deleted, but the history and "
                "configuration associated with the stack are still maintained."
            )
        self._emit(text)
        return Result(ok, first + text, steps, new, d.provider_stderr)


def _engine_server(d: Deployment) -> tuple[Any, str]:
    """An Engine service for a provider started without a program (its argument)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    engine_pb2_grpc.add_EngineServicer_to_server(Engine(d), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def render(
    header: str,
    steps: list[Step],
    diagnostics: dict[str, list[str]],
    stack_urn: str,
    state: Checkpoint | None,
    preview: bool,
    ok: bool,
    operation: str = "update",
) -> str:
    """What the CLI prints, in its plain (non-interactive) shape, sames hidden. The
    harness's own rendering (not cited line by line): symbols and past tenses follow
    step.go RawPrefix/PastTense; the summary counts create, update, replace, delete and
    unchanged steps, as the CLI's summary does for those ops."""
    lines = [header]
    for step in steps:
        if step.op == "same":
            continue
        diff = f" [diff: {', '.join(step.keys)}]" if step.keys else ""
        verb = step.op if preview else PAST.get(step.op, step.op)
        lines.append(f" {SYMBOLS.get(step.op, ' '):<3}{step.type} {step.name} {verb}{diff}")
    if diagnostics:
        lines.append("Diagnostics:")
        for urn, messages in diagnostics.items():
            kind, name = urn.rsplit("::", 2)[-2:]
            lines.append(f"  {kind.rsplit('$', 1)[-1]} ({name}):")
            lines.extend(f"    {line}" for m in messages for line in m.splitlines())
    if state is not None and ok:
        outputs = state.stack_outputs()
        if outputs:
            lines.append("Outputs:")
            for key, value in sorted(redacted(outputs).items()):
                shown = value if isinstance(value, str) else json.dumps(value)
                lines.append(f"    {key}: {shown}")
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.op] = counts.get(step.op, 0) + 1
    lines.append("Resources:")
    for op in ("create", "update", "replace", "delete"):
        if counts.get(op):
            what = f"to {op}" if preview else PAST[op]
            lines.append(f"    {SYMBOLS[op]} {counts[op]} {what}")
    if counts.get("same"):
        lines.append(f"    {counts['same']} unchanged")
    if not ok:
        lines.append(f"error: {'preview' if preview else operation} failed")
    return "\n".join(lines)


__all__ = ["STACK_TYPE", "Harness", "Result", "Step"]
