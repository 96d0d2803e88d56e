"""The engine: one deployment (preview, update, refresh, destroy) of one stack.

Each rule below cites the pulumi/pulumi source it follows (read at commit 1b59498,
2026-08); where the harness simplifies, the comment says how.

- The program runs in its own process (langhost_exec.py, under the project's
  interpreter) and talks to this process's ResourceMonitor and Engine gRPC services,
  as with the language host (sdk/python/cmd/pulumi-language-python/main.go Run).
- Custom resources of package `pulumi-python` go to the DEFAULT provider, whose inputs
  are the whole stack config with namespaces kept and secure values secret
  (pkg/resource/deploy/target.go GetPackageConfig, isDynamicProvider;
  default_providers.go newRegisterDefaultProviderEvent). Other packages and explicit
  providers are not served (the harness says so).
- Registrations are applied one at a time (the real engine runs independent steps in
  parallel); each registration's step runs to its end before the answer.
"""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, resource_pb2, resource_pb2_grpc

from . import checkpoint as ckpt
from .checkpoint import STACK_TYPE, Checkpoint, ResourceState
from .plugin import PROVIDER_PACKAGE, ProviderCallError, ProviderPlugin, ProviderStartError
from .project import SECRETS_ENV, ConfigValue, Project
from .wire import (
    Props,
    contains_unknowns,
    from_struct,
    is_secret,
    secret,
    strip_secrets,
    to_struct,
    without_unknowns,
)

LANGHOST_EXEC = Path(__file__).with_name("langhost_exec.py")
PROVIDER_TYPE = f"pulumi:providers:{PROVIDER_PACKAGE}"

# Display symbols and past tenses of step.go StepOp RawPrefix / PastTense (`+`, `~`,
# `+-`, `-`, `>` read, `<` read-discard); sames are not shown.
SYMBOLS = {
    "create": "+",
    "update": "~",
    "replace": "+-",
    "delete": "-",
    "read": ">",
    "discard": "<",
}
PAST = {
    "create": "created",
    "update": "updated",
    "replace": "replaced",
    "delete": "deleted",
    "read": "read",
    "discard": "discarded",
}


@dataclass
class Step:
    op: str  # create, update, replace, delete, same, refresh-same/-update/-delete
    urn: str
    type: str
    keys: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[1]


@dataclass
class Result:
    """What one command did: success, what the user read, the steps, the state."""

    ok: bool
    output: str
    steps: list[Step]
    checkpoint: Checkpoint
    provider_stderr: list[str] = field(default_factory=list)
    # What the program printed (stdout, then stderr), which the CLI shows as the stack's
    # info lines among the provider's; kept apart to tell the two processes apart.
    program_output: list[str] = field(default_factory=list)

    def ops(self, op: str) -> list[str]:
        return sorted(s.name for s in self.steps if s.op == op)


class DeploymentError(Exception):
    """A step failed; the message is what the engine prints for it."""


def make_urn(stack: str, project: str, qualified_type: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{project}::{qualified_type}::{name}"


def package_config(config: dict[str, ConfigValue]) -> Props:
    """target.go GetPackageConfig for a dynamic provider: every key, namespace kept,
    `property.New(v).WithSecret(c.Secure())`."""
    return {k: secret(v.text) if v.secure else v.text for k, v in sorted(config.items())}


def mark_secret_outputs(state: ResourceState) -> None:
    """step_executor.go continueExecuteStep: outputs named in additionalSecretOutputs
    become secret, and so does any output whose input of the same name is secret."""
    for key in state.additional_secret_outputs:
        if key in state.outputs and not is_secret(state.outputs[key]):
            state.outputs[key] = secret(state.outputs[key])
    for key, out in list(state.outputs.items()):
        if not is_secret(out) and is_secret(state.inputs.get(key)):
            state.outputs[key] = secret(out)


def changed_keys(olds: Props, news: Props) -> list[str]:
    """What the CLI lists as `[diff: ...]` when a provider gives no detailed diff: the
    inputs that differ (pkg/display, from the step's old and new inputs), each marked
    `+` (added), `-` (removed) or `~` (changed), as the real CLI v3.277.0 shows them
    (tests/test_realcli_lifecycle.py: a first `secret_version` reads `+secret_version`)."""
    keys = set(olds) | set(news)
    keys.discard("__provider")
    marked = []
    for key in sorted(keys):
        old, new = strip_secrets(olds.get(key)), strip_secrets(news.get(key))
        if old != new:
            marked.append(("+" if old is None else "-" if new is None else "~") + key)
    return marked


def delete_op(old: ResourceState) -> str:
    """step.go DeleteStep.Op: an External resource's delete is a read-discard (shown
    as `discard`; the provider is not called); otherwise a delete."""
    return "discard" if old.external else "delete"


def process_ignore_changes(news: Props, olds: Props, ignore: list[str]) -> Props:
    """step_generator.go processIgnoreChanges for top-level property names: each
    ignored key takes its old value, or is dropped when it had none (`path.Reset(old,
    new)`). A nested path (`a.b`, `a[0]`) is not modelled: the harness says so."""
    ignored = dict(news)
    for path in ignore:
        if any(c in path for c in '.[]"*'):
            raise DeploymentError(f"the harness handles only top-level ignore_changes ({path})")
        if path in olds:
            ignored[path] = olds[path]
        else:
            ignored.pop(path, None)
    return ignored


def go_value(value: Any) -> str:
    """Go's `%v` of a PropertyValue in check errors (properties.go String: `{%v}`;
    a secret prints as `{&{{value}}}`: the engine does not redact it there)."""
    if is_secret(value):
        return "{&{{" + str(strip_secrets(value)) + "}}}"
    return "{" + str(value) + "}"


class Deployment:
    """Runs one operation. `mode` is "update", "refresh" or "destroy"; `preview` marks a
    dry run (no Create/Update/Delete reach the provider, and nothing is written)."""

    def __init__(
        self,
        project: Project,
        stack: str,
        old: Checkpoint,
        env: dict[str, str],
        preview: bool,
        out: Callable[[str], None],
    ) -> None:
        self.project = project
        self.stack = stack
        self.old = old
        # The plaintexts of `secure:` values are the harness's stand-in for the CLI's
        # decryption: the real CLI's children never see such a variable.
        self.env = {k: v for k, v in env.items() if k != SECRETS_ENV}
        self.preview = preview
        self.out = out
        self.pwd, self.main = project.pwd_and_main()
        self.steps: list[Step] = []
        self.news: list[ResourceState] = []
        self.qualified: dict[str, str] = {}
        self.replaced: list[ResourceState] = []  # old states deleted at the end
        self.gone: set[int] = set()  # ids of old states already deleted
        self.diagnostics: dict[str, list[str]] = {}
        self.errors = 0
        self.provider: ProviderPlugin | None = None
        self.provider_state: ResourceState | None = None
        self.provider_stderr: list[str] = []
        self.stack_urn = make_urn(stack, project.name, STACK_TYPE, f"{project.name}-{stack}")
        self._lock = threading.Lock()

    # -- diagnostics --------------------------------------------------------------------

    def diag(self, urn: str, line: str) -> None:
        self.diagnostics.setdefault(urn or self.stack_urn, []).append(line)

    def error(self, urn: str, message: str) -> None:
        self.errors += 1
        self.diag(urn, f"error: {message.rstrip()}")

    def _on_provider_stderr(self, line: str) -> None:
        # plugin.go runtrace: a dynamic provider's stderr is Infoerrf with no URN.
        self.provider_stderr.append(line)
        self.diag("", line)

    # -- the provider -------------------------------------------------------------------

    def start_provider(self, state: ResourceState, engine_address: str) -> ProviderPlugin:
        """Load and configure the default provider from `state` (its inputs are the
        config it is configured with): providers/registry.go Same/Create ->
        Configure(FilterProviderConfig(res.Inputs))."""
        plugin_config = {
            k.split(":", 1)[1]: str(strip_secrets(v))
            for k, v in state.inputs.items()
            if k.startswith(f"{PROVIDER_PACKAGE}:")
        }
        provider = ProviderPlugin(
            self.pwd,
            self.project.options,
            self.project.name,
            engine_address,
            plugin_config,
            self._on_provider_stderr,
            self.env,
        )
        provider.configure(state.urn, state.id, state.inputs)
        return provider

    def stored_provider_state(self) -> ResourceState | None:
        return next((r for r in self.old.resources if r.type == PROVIDER_TYPE), None)

    def close(self) -> None:
        if self.provider is not None:
            self.provider.close()
            self.provider = None

    # -- registration (the ResourceMonitor's RegisterResource) --------------------------

    def _new_urn(self, type_: str, name: str, parent: str) -> str:
        """The urn of a new resource, its qualified type remembered for its children.
        sdk/go/common/resource/urn/urn.go New: the root stack's type is not part of a
        child's qualified type. Called with the lock held."""
        parent_type = self.qualified.get(parent, "") if parent else ""
        qualified = (
            type_ if not parent_type or parent_type == STACK_TYPE else f"{parent_type}${type_}"
        )
        urn = make_urn(self.stack, self.project.name, qualified, name)
        self.qualified[urn] = qualified
        return urn

    def register(
        self, req: resource_pb2.RegisterResourceRequest, config: dict[str, ConfigValue], engine: str
    ) -> tuple[str, str, Props, bool]:
        with self._lock:
            urn = self._new_urn(req.type, req.name, req.parent)
            props = from_struct(req.object)
            if not req.custom:
                return self._register_component(urn, req, props)
            return self._register_custom(urn, req, props, config, engine)

    def _register_component(
        self, urn: str, req: resource_pb2.RegisterResourceRequest, props: Props
    ) -> tuple[str, str, Props, bool]:
        old = self.old.find(urn)
        state = ResourceState(urn, req.type, False, inputs=props, parent=req.parent)
        if old is not None:
            state.outputs = old.outputs
        self.news.append(state)
        self.steps.append(Step("same" if old else "create", urn, req.type))
        return urn, "", {}, True

    def _register_custom(
        self,
        urn: str,
        req: resource_pb2.RegisterResourceRequest,
        props: Props,
        config: dict[str, ConfigValue],
        engine: str,
    ) -> tuple[str, str, Props, bool]:
        if self.errors:
            # step_executor.go cancelDueToError: after a failed step no new step runs.
            return urn, "", {}, False
        if req.provider or req.type.split(":")[0] != PROVIDER_PACKAGE:
            self.error(urn, f"the harness serves only default `{PROVIDER_PACKAGE}` providers")
            return urn, "", {}, False
        try:
            self._ensure_provider(config, engine)
            return self._step(urn, req, props)
        except (ProviderCallError, ProviderStartError, DeploymentError) as exc:
            self.error(urn, str(exc))
            return urn, "", {}, False

    # -- a read (the ResourceMonitor's ReadResource, `Resource.get`) ---------------------

    def read(
        self, req: resource_pb2.ReadResourceRequest, config: dict[str, ConfigValue], engine: str
    ) -> tuple[str, Props, bool]:
        """step_generator.go GenerateReadSteps + step.go ReadStep.Apply: a new state
        marked External, with the request's properties as its inputs; the provider's
        Read gets them "as both inputs and state", in previews too ("Unlike most steps,
        Read steps run during previews"); no outputs means "resource '<id>' does not
        exist"."""
        with self._lock:
            urn = self._new_urn(req.type, req.name, req.parent)
            if self.errors:
                return urn, {}, False
            props = from_struct(req.properties)
            old = self.old.find(urn)
            try:
                if req.provider or req.type.split(":")[0] != PROVIDER_PACKAGE:
                    raise DeploymentError(
                        f"the harness serves only default `{PROVIDER_PACKAGE}` providers"
                    )
                if old is not None and not old.external and old.id != req.id:
                    # GenerateReadSteps: a read-replacement step; not modelled.
                    raise DeploymentError(f"the harness cannot read over the managed {urn}")
                self._ensure_provider(config, engine)
                assert self.provider is not None and self.provider_state is not None
                rid, outs, _ = self.provider.read(urn, req.id, props, props)
            except (ProviderCallError, ProviderStartError, DeploymentError) as exc:
                self.error(urn, str(exc))
                return urn, {}, False
            if not outs:
                self.error(urn, f"resource '{req.id}' does not exist")
                return urn, {}, False
            new = ResourceState(
                urn,
                req.type,
                True,
                id=rid or req.id,
                inputs=props,
                outputs=outs,
                parent=req.parent,
                provider=f"{self.provider_state.urn}::{self.provider_state.id}",
                additional_secret_outputs=list(req.additionalSecretOutputs),
                external=True,
            )
            mark_secret_outputs(new)
            self.news.append(new)
            self.steps.append(Step("read", urn, req.type))
            return urn, new.outputs, True

    def _ensure_provider(self, config: dict[str, ConfigValue], engine: str) -> None:
        if self.provider is not None:
            return
        stored = self.stored_provider_state()
        inputs = package_config(config)
        urn = make_urn(self.stack, self.project.name, PROVIDER_TYPE, "default")
        provider_id = stored.id if stored else str(uuid.uuid4())
        self.provider_state = ResourceState(
            urn, PROVIDER_TYPE, True, id=provider_id, inputs=inputs, outputs=dict(inputs)
        )
        self.provider = self.start_provider(self.provider_state, engine)

    def _step(
        self, urn: str, req: resource_pb2.RegisterResourceRequest, props: Props
    ) -> tuple[str, str, Props, bool]:
        assert self.provider is not None and self.provider_state is not None
        provider = self.provider
        old = self.old.find(urn)
        # source_eval.go RegisterResource: deleteBeforeReplace counts when defined.
        dbr = (
            req.deleteBeforeReplace
            if (req.deleteBeforeReplaceDefined or req.deleteBeforeReplace)
            else None
        )
        new = ResourceState(
            urn,
            req.type,
            True,
            parent=req.parent,
            provider=f"{self.provider_state.urn}::{self.provider_state.id}",
            additional_secret_outputs=list(req.additionalSecretOutputs),
            delete_before_replace=dbr,
            # step_generator.go generateSteps: resource.NewState(..., goal.Protect, ...,
            # goal.RetainOnDelete, ...): the new state carries both options.
            protect=bool(req.protect),
            retain_on_delete=bool(req.retainOnDelete),
        )
        if old is not None and old.external:
            # step_generator.go generateSteps "Case 2: wasExternal" (a create replacing
            # a read resource): not modelled.
            raise DeploymentError(f"the harness cannot take over the read resource {urn}")
        goal = props
        if old is not None:
            # step_generator.go generateSteps: "Set inputs back to their old values (if
            # any) for any 'ignored' properties" (processIgnoreChanges) BEFORE Check.
            props = process_ignore_changes(props, old.inputs, list(req.ignoreChanges))
        # step_generator.go generateSteps: Check(olds = the OLD INPUTS, news); with no
        # old state, Check(news) alone. Check's answer becomes the new inputs.
        checked = provider.check(urn, old.inputs if old else {}, props)
        new.inputs = checked.inputs
        if checked.failures:
            # step_generator.go issueCheckFailures + diag/errors.go 2003/2002.
            for prop, reason in checked.failures:
                if prop:
                    value = go_value(checked.inputs.get(prop, props.get(prop)))
                    self.error(
                        urn,
                        f"{req.type} resource '{req.name}': property {prop} value {value} "
                        f"has a problem: {reason}",
                    )
                else:
                    self.error(urn, f"{req.type} resource '{req.name}' has a problem: {reason}")
            return urn, "", {}, False
        if old is None:
            # step.go CreateStep.Apply -> provider_plugin.go Create (inputs as the
            # state in a preview: the dynamic provider does not support previews).
            new.id, new.outputs = provider.create(urn, new.inputs, self.preview)
            self.steps.append(Step("create", urn, req.type))
        else:
            # step_generator.go diff: Diff(id, old inputs, OLD OUTPUTS, new inputs).
            diff = provider.diff(urn, old.id, old.inputs, old.outputs, new.inputs)
            keys = changed_keys(old.inputs, new.inputs)
            if diff.changes and diff.replaces:
                if new.protect and old.protect:
                    # step_generator.go generateStepsFromDiff: "If this resource is
                    # protected we can't replace it because that entails a delete".
                    raise DeploymentError(
                        f'unable to replace resource "{urn}"\nas it is currently marked for '
                        "protection. To unprotect the resource, remove the `protect` flag "
                        "from the resource in your Pulumi program and run `pulumi up`"
                    )
                # The replacement's Check gets the program's properties (goal.Properties),
                # not the ignore-processed ones (generateStepsFromDiff).
                self._replace(urn, req, goal, old, new, diff.delete_before_replace, keys)
            elif diff.changes:
                # step.go UpdateStep.Apply: Update(id, old inputs, OLD OUTPUTS, news).
                new.id = old.id
                new.outputs = provider.update(
                    urn, old.id, old.inputs, old.outputs, new.inputs, self.preview
                )
                self.steps.append(Step("update", urn, req.type, keys))
            else:
                # step.go SameStep.Apply: "Retain the ID and outputs"; the inputs are
                # the newly checked ones.
                new.id, new.outputs = old.id, old.outputs
                self.steps.append(Step("same", urn, req.type))
        mark_secret_outputs(new)
        self.news.append(new)
        return urn, new.id, new.outputs, True

    def _replace(
        self,
        urn: str,
        req: resource_pb2.RegisterResourceRequest,
        props: Props,
        old: ResourceState,
        new: ResourceState,
        provider_dbr: bool,
        keys: list[str],
    ) -> None:
        assert self.provider is not None
        # step_generator.go continueStepsFromDiff: a replacement re-runs Check with
        # the news alone ("recompute the default values"), then picks the mode: the
        # provider's deleteBeforeReplace unless the program's option says otherwise.
        rechecked = self.provider.check(urn, {}, props)
        new.inputs = rechecked.inputs
        dbr = provider_dbr if new.delete_before_replace is None else new.delete_before_replace
        if dbr:
            # Delete-before-replace: the old one goes first (step.go DeleteStep for
            # the replaced resource, then CreateStep).
            self.delete_step(old, replacing=True)
            self.gone.add(id(old))
        else:
            # Create-before-delete: "the delete step is generated 'later' on, after all
            # creates/updates finish" (continueStepsFromDiff); the old state is kept
            # with Delete=true until then (step_generator.go GenerateDeletes), once
            # the replacement exists.
            new.id, new.outputs = self.provider.create(urn, new.inputs, self.preview)
            self.replaced.append(old)
            self.steps.append(Step("replace", urn, req.type, keys))
            return
        new.id, new.outputs = self.provider.create(urn, new.inputs, self.preview)
        self.steps.append(Step("replace", urn, req.type, keys))

    # -- the end of an update: deletes ---------------------------------------------------

    def generate_deletes(self) -> None:
        """step_generator.go GenerateDeletes: every old resource the program did not
        register, and every replaced one (Delete=true, also those left pending by an
        earlier failed run), is deleted after all creates and updates, in reverse
        order of the old snapshot (ScheduleDeletes: dependents first)."""
        registered = {r.urn for r in self.news}
        replaced = {id(r) for r in self.replaced}
        for old in reversed(self.old.resources):
            if id(old) in self.gone or old.type == PROVIDER_TYPE:
                continue
            pending = old.delete or id(old) in replaced
            if old.urn in registered and not pending:
                continue
            try:
                # A pending delete (a replaced resource) is a DeleteReplacement step: no
                # protect check for it (DeleteStep.Apply `!s.replacing && s.old.Protect`).
                self.delete_step(old, replacing=pending)
            except (ProviderCallError, ProviderStartError, DeploymentError) as exc:
                self.error(old.urn, str(exc))
                continue
            if old.custom and not pending:
                self.steps.append(Step(delete_op(old), old.urn, old.type))
            self.gone.add(id(old))

    def delete_step(self, old: ResourceState, replacing: bool) -> None:
        """step.go DeleteStep.Apply: refuse a protected resource unless replacing;
        then nothing in a preview, nothing for an External resource ("Pulumi does not
        own the lifecycle"), nothing for RetainOnDelete ("the user has explicitly asked
        us to not delete the resource"), else the provider's Delete."""
        if not replacing and old.protect:
            raise DeploymentError(
                f'resource "{old.urn}" cannot be deleted\nbecause it is protected. To '
                "unprotect the resource, either remove the `protect` flag from the resource "
                "in your Pulumi program and run `pulumi up`, or use the command:\n"
                f"`pulumi state unprotect '{old.urn}'`"
            )
        if self.preview or old.external or old.retain_on_delete or not old.custom:
            return
        self._provider_for_delete().delete(old.urn, old.id, old.inputs, old.outputs)

    def _provider_for_delete(self) -> ProviderPlugin:
        if self.provider is None:
            # A deployment whose program registered nothing still deletes with the
            # provider of the old state's default provider reference.
            stored = self.stored_provider_state()
            if stored is None:
                raise DeploymentError("no default provider in the state")
            self.provider = self.start_provider(stored, self._engine_address)
        return self.provider

    _engine_address = ""

    # -- the new snapshot -----------------------------------------------------------------

    def snapshot(self) -> Checkpoint:
        """The state after the deployment: new states in registration order, the
        default provider, then old states nothing replaced or deleted (kept as they
        were; a replaced one keeps Delete=true: a pending delete for the next run)."""
        news = {r.urn for r in self.news}
        replaced = {id(r) for r in self.replaced}
        resources: list[ResourceState] = []
        stack = next((r for r in self.news if r.type == STACK_TYPE), None)
        if stack is not None:
            resources.append(stack)
        if self.provider_state is not None:
            resources.append(self.provider_state)
        elif (stored := self.stored_provider_state()) is not None:
            resources.append(stored)
        resources.extend(r for r in self.news if r.type != STACK_TYPE)
        for old in self.old.resources:
            if id(old) in self.gone or old.type == PROVIDER_TYPE:
                continue
            if old.type == STACK_TYPE and stack is not None:
                continue
            if id(old) in replaced or old.delete:
                kept = old.copy()
                kept.delete = True
                resources.append(kept)
            elif old.urn not in news:
                resources.append(old)
        live = [r for r in resources if r.type not in (STACK_TYPE, PROVIDER_TYPE)]
        if not live and stack is None:
            resources = []
        return Checkpoint(self.stack, resources)


class Monitor(resource_pb2_grpc.ResourceMonitorServicer):
    """The ResourceMonitor the program's SDK talks to (pulumi/runtime/proto/resource.proto)."""

    # settings.py _LEGACY_FEATURE_MAPPING: the SDK probes these when GetDeploymentInfo
    # is unimplemented (as here). Only what the harness implements is claimed.
    FEATURES: ClassVar[dict[str, bool]] = {"secrets": True}

    def __init__(self, deployment: Deployment, config: dict[str, ConfigValue]) -> None:
        self.deployment = deployment
        self.config = config
        self.engine_address = ""

    def GetDeploymentInfo(self, request: Any, context: Any) -> Any:
        # Unimplemented, as with older engines: the SDK then probes SupportsFeature.
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "GetDeploymentInfo")

    def SupportsFeature(self, request: Any, context: Any) -> Any:
        return resource_pb2.SupportsFeatureResponse(hasSupport=self.FEATURES.get(request.id, False))

    def RegisterResource(self, request: Any, context: Any) -> Any:
        d = self.deployment
        urn, id_, outputs, ok = d.register(request, self.config, self.engine_address)
        # source_eval.go RegisterResource: outputs marshalled with KeepSecrets =
        # req.acceptSecrets, unknowns dropped unless supportsPartialValues; a failed
        # step answers result=FAIL, or an error to an SDK without result reporting.
        if not ok and not request.supportsResultReporting:
            context.abort(grpc.StatusCode.INTERNAL, "resource registration failed")
        if not request.acceptSecrets:
            outputs = strip_secrets(outputs)
        if not request.supportsPartialValues:
            outputs = without_unknowns(outputs)
        return resource_pb2.RegisterResourceResponse(
            urn=urn,
            id=id_,
            object=to_struct(outputs),
            result=resource_pb2.Result.SUCCESS if ok else resource_pb2.Result.FAIL,
        )

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:
        d = self.deployment
        with d._lock:
            state = next((r for r in d.news if r.urn == request.urn), None)
            if state is not None:
                state.outputs = from_struct(request.outputs)
        return empty_pb2.Empty()

    def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    def Invoke(self, request: Any, context: Any) -> Any:
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED, f"the harness serves no invoke ({request.tok})"
        )

    def ReadResource(self, request: Any, context: Any) -> Any:
        d = self.deployment
        urn, outputs, ok = d.read(request, self.config, self.engine_address)
        if not ok:
            # resmon ReadResource returns the step's error to the SDK, which fails the
            # program (the error itself is already among the diagnostics).
            context.abort(grpc.StatusCode.UNKNOWN, "resource read failed")
        # source_eval.go ReadResource: outputs marshalled with KeepSecrets =
        # req.acceptSecrets.
        if not request.acceptSecrets:
            outputs = strip_secrets(outputs)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=to_struct(outputs))


class Engine(engine_pb2_grpc.EngineServicer):
    """The Engine service: logs from the program, and the root resource."""

    # The harness's own rendering (not cited): debug lines hidden (the CLI shows them
    # only with --debug), warnings and errors prefixed as in its plain display; an
    # error logged by the program counts as a failed deployment, as its exit does.
    SEVERITY: ClassVar[dict[int, str | None]] = {
        engine_pb2.DEBUG: None,
        engine_pb2.INFO: "",
        engine_pb2.WARNING: "warning: ",
        engine_pb2.ERROR: "error: ",
    }

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.root = ""

    def Log(self, request: Any, context: Any) -> Any:
        prefix = self.SEVERITY.get(request.severity)
        if prefix is not None:
            with self.deployment._lock:
                if request.severity == engine_pb2.ERROR:
                    self.deployment.errors += 1
                self.deployment.diag(request.urn, prefix + request.message.rstrip("\n"))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:
        return engine_pb2.GetRootResourceResponse(urn=self.root)

    def SetRootResource(self, request: Any, context: Any) -> Any:
        self.root = request.urn
        return engine_pb2.SetRootResourceResponse()


def run_program(
    deployment: Deployment, config: dict[str, ConfigValue], parallel: int = 16
) -> tuple[int, str]:
    """Serve the monitor and engine, run the program as the language host does, wait.
    Returns the program's exit code and everything it printed."""
    project = deployment.project
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    monitor = Monitor(deployment, config)
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    engine_pb2_grpc.add_EngineServicer_to_server(Engine(deployment), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    address = f"127.0.0.1:{port}"
    monitor.engine_address = address
    deployment._engine_address = address
    try:
        python, env = project.program_python(deployment.env)
        # main.go Run: config as JSON text in PULUMI_CONFIG, secret keys listed in
        # PULUMI_CONFIG_SECRET_KEYS; arguments as constructArguments builds them.
        env["PULUMI_CONFIG"] = json.dumps({k: v.text for k, v in config.items()})
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(
            sorted(k for k, v in config.items() if v.secure)
        )
        args = [
            python,
            str(LANGHOST_EXEC),
            "--monitor", address,
            "--engine", address,
            "--project", project.name,
            "--root_directory", str(project.root),
            "--stack", deployment.stack,
            "--pwd", str(deployment.pwd),
            "--dry_run", "true" if deployment.preview else "false",
            "--parallel", str(parallel),
            deployment.main,
        ]  # fmt: skip
        # The language host's own cwd is inherited; the exec script chdirs to --pwd.
        proc = subprocess.run(
            args,
            cwd=deployment.pwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        printed = proc.stdout + proc.stderr
        return proc.returncode, printed
    finally:
        server.stop(grace=None)


__all__ = [
    "Deployment",
    "DeploymentError",
    "Result",
    "Step",
    "ckpt",
    "contains_unknowns",
    "run_program",
]
