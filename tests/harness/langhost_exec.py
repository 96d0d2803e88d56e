"""Runs a Pulumi Python program as the language host does; executed by the project's
interpreter (its virtualenv), never imported by the harness.

Follows sdk/python/cmd/pulumi-language-python-exec (pulumi/pulumi), which
sdk/python/cmd/pulumi-language-python/main.go Run starts with the arguments of
constructArguments (--monitor --engine --project --root_directory --stack --pwd
--dry_run --parallel [--organization] PROGRAM) and the config in PULUMI_CONFIG /
PULUMI_CONFIG_SECRET_KEYS: set the config, configure the runtime's Settings, chdir to
--pwd, run PROGRAM with runpy.run_path(..., run_name="__main__") inside
pulumi.runtime.run_in_stack on a fresh event loop. Exit 0 on success; on an exception,
log "Program failed with an unhandled exception:" and the program's frames through the
engine and exit 32. (The script's special message for a directory without __main__.py
is not reproduced: Python's own error is logged instead.)
"""

import sys

# The real exec script's own directory holds no modules; this one's does: keep the
# program from importing the harness by accident.
sys.path.pop(0)

import argparse
import asyncio
import inspect
import logging
import os
import runpy
import traceback
from concurrent.futures import ThreadPoolExecutor

import pulumi
import pulumi.runtime

parser = argparse.ArgumentParser()
for name in (
    "project", "root_directory", "stack", "parallel", "dry_run", "pwd",
    "monitor", "engine", "tracing", "organization",
):  # fmt: skip
    parser.add_argument(f"--{name}")
parser.add_argument("PROGRAM")
parser.add_argument("ARGS", nargs="*")
args = parser.parse_args()

config_env = pulumi.runtime.get_config_env()
if hasattr(pulumi.runtime, "get_config_secret_keys_env") and hasattr(
    pulumi.runtime, "set_all_config"
):
    pulumi.runtime.set_all_config(config_env, pulumi.runtime.get_config_secret_keys_env())
else:
    for key, value in config_env.items():
        pulumi.runtime.set_config(key, value)

settings_kwargs = {
    "monitor": args.monitor,
    "engine": args.engine,
    "project": args.project,
    "stack": args.stack,
    "parallel": int(args.parallel),
    "dry_run": args.dry_run == "true",
    "organization": args.organization,
    "root_directory": args.root_directory,
}
accepted = inspect.signature(pulumi.runtime.Settings.__init__).parameters
pulumi.runtime.configure(
    pulumi.runtime.Settings(**{k: v for k, v in settings_kwargs.items() if k in accepted})
)

sys.argv = [args.PROGRAM, *args.ARGS]
if args.pwd is not None:
    os.chdir(args.pwd)

# Exit code 32: "an error message was displayed to the user"; the language host then
# bails without adding its own (main.go pythonProcessExitedAfterShowingUserActionableMessage).
USER_ACTIONABLE = 32


def module_path(path: str) -> str:
    base, ext = os.path.splitext(path)
    return os.path.abspath(base if ext else os.path.join(base, "__main__"))


def user_stacktrace(program: str) -> str:
    """The traceback from the program's own frame on (the exec script's
    _get_user_stacktrace), the whole one if the program's frame is not in it."""
    frames = traceback.extract_tb(sys.exc_info()[2])
    for index, frame in enumerate(frames):
        if module_path(program) == module_path(frame.filename):
            return traceback.format_exc(limit=-(len(frames) - index))
    return traceback.format_exc()


loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
# _set_default_executor: max(parallel, 1) * 4 worker threads.
executor = ThreadPoolExecutor(max_workers=max(int(args.parallel), 1) * 4)
loop.set_default_executor(executor)
logging.getLogger("asyncio").setLevel(logging.CRITICAL)
exit_code = 1
try:

    def program() -> None:
        runpy.run_path(args.PROGRAM, run_name="__main__")

    loop.run_until_complete(pulumi.runtime.run_in_stack(program))
    exit_code = 0
except pulumi.RunError as exc:
    pulumi.log.error(str(exc))
except Exception:
    pulumi.log.error(
        "Program failed with an unhandled exception:\n" + user_stacktrace(args.PROGRAM)
    )
    exit_code = USER_ACTIONABLE
finally:
    executor.shutdown(wait=True)
    loop.close()
    sys.stdout.flush()
    sys.stderr.flush()
sys.exit(exit_code)
