"""Runs a Pulumi Python program as the language host does; executed by the project's
interpreter (its virtualenv), never imported by the harness.

Follows sdk/python/cmd/pulumi-language-python-exec (pulumi/pulumi), which
sdk/python/cmd/pulumi-language-python/main.go Run starts with the arguments of
constructArguments (--monitor --engine --project --root_directory --stack --pwd
--dry_run --parallel [--organization] PROGRAM) and the config in PULUMI_CONFIG /
PULUMI_CONFIG_SECRET_KEYS: set the config, configure the runtime's Settings, chdir to
--pwd, run PROGRAM with runpy.run_path(..., run_name="__main__") inside
pulumi.runtime.run_in_stack on a fresh event loop. Exit 0 on success, else 1 after
logging the error through the engine.
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

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
logging.getLogger("asyncio").setLevel(logging.CRITICAL)
successful = False
try:

    def program() -> None:
        runpy.run_path(args.PROGRAM, run_name="__main__")

    loop.run_until_complete(pulumi.runtime.run_in_stack(program))
    successful = True
except pulumi.RunError as exc:
    pulumi.log.error(str(exc))
except Exception:
    pulumi.log.error(traceback.format_exc())
finally:
    loop.close()
    sys.stdout.flush()
    sys.stderr.flush()
sys.exit(0 if successful else 1)
