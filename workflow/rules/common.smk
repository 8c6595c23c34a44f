# Helpers shared by the workflow files: config validation, run lists, per-job code inputs, resources.
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod

# Every module imported here (and in the other workflow files) imports no torch, scipy, pandas or matplotlib: every
# Snakemake process reads these files, the jobs' own processes too (tests/test_workflow_imports.py).
from x2softmax import config as xcfg, snakerun
from x2softmax.cluster import SUBMIT_HOST_RULES
from x2softmax.cpukernels import shell_exports
from x2softmax.data.ijb import meta_paths
from x2softmax.vocabulary import BENCHMARKS, IJB_SUITES, MARGIN_TABLES, UNCERTAINTY_TABLES
from x2softmax.losses import SUBJECT
from x2softmax.losses.sources import loss_files
from x2softmax.report.artifacts import NOTEBOOKS, PAGES, caption, figure_paths, table_paths
from x2softmax.phases import CPU_PHASES_ENV
from x2softmax.shutdown import skip_final_collection

REPO = Path(workflow.basedir)
# Every x2softmax job's log ends with its CPU-seconds by phase (start-up, data, compute): bench/replicate_cpu.py.
os.environ[CPU_PHASES_ENV] = "1"
# Every Snakemake process that reads this file ends without the interpreter's final garbage collections: about 0.9
# CPU-s of a `snakemake -n` (x2softmax.shutdown).
skip_final_collection()



def refuse(message):
    """End Snakemake with one line saying what is wrong: a WorkflowError raised in a workflow file would end with a
    line naming that file's line instead."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    sys.exit(re.sub(r":; ", ": ", "; ".join(lines)))


try:
    # Snakemake has already parsed each --configfile with its own YAML loader (docs/limits.md); re-reading them
    # through the bounded reader names the file for an alias bomb, a non-UTF-8 or an oversized preset.
    for _configfile in workflow.config_settings.configfiles:
        xcfg.read_yaml(_configfile)
    # A bad hyperparameter is refused here, before any job: the losses are built (torch) unless the record of the
    # checks passed in this project (.snakemake/x2softmax, written by this check and `x2softmax config-check`) holds
    # this config's and loss package's digest (x2softmax.config.check_hyperparameters).
    xcfg.validate_config(config, REPO / "workflow/schemas/config.schema.yaml", record=xcfg.HPARAM_RECORD)
except xcfg.ConfigError as err:
    _sources = [str(REPO / "config/config.yaml"), *map(str, workflow.config_settings.configfiles)]
    refuse(f"x2softmax config: {err}" if str(err).startswith("config file ") else
           f"x2softmax config: {' + '.join(_sources)}: {err}")

# Snakemake reads its records (.snakemake/metadata) only after this file, and a record that is not UTF-8 JSON ends it
# in a traceback: the main process checks them first and says what to do in one line (x2softmax.snakerun).
if workflow.is_main_process:
    from snakemake.persistence import MetadataRecord

    if (_record := snakerun.corrupt_record(Path.cwd(), MetadataRecord.model_validate)) is not None:
        refuse(f"x2softmax snakemake: {snakerun.corrupt_record_advice(_record)}")

    # An existing write-protected output of a job to run is refused by Snakemake while it builds the DAG, in a
    # multi-line message listing the files (Job.check_protected_output, called for every job to run and nowhere
    # else): the same one line as make's wrapper instead, naming the first file. Nothing is walked here.
    from snakemake.exceptions import ProtectedOutputException
    from snakemake.jobs import Job

    async def _protected_output_in_one_line(job, _check=Job.check_protected_output):
        """Snakemake's check of a job's existing outputs, its refusal ended in one line (x2softmax.snakerun)."""
        try:
            await _check(job)
        except ProtectedOutputException as err:
            refuse(f"x2softmax snakemake: {snakerun.explain(str(err)) or err}")

    Job.check_protected_output = _protected_output_in_one_line

DATA = config["data"]["root"]
if not config["synthetic"]:
    from x2softmax.plan import data_plan

    logger.info(data_plan(config))
RUNS = xcfg.runs(config)
LOSS_RUNS = list(config["run_losses"])
EVALUATED_BENCHMARKS = list(config["evaluate"]["benchmarks"])  # of vocabulary.BENCHMARKS, those evaluated
SUITES = list(config["evaluate"]["ijb"])
ENV = str(REPO / "envs/x2softmax.yaml")
PKG = REPO / "src/x2softmax"

# Shell commands call `x2softmax ...` and `papermill ...`: shell functions, defined here for every shell command
# of every job, that run the package and papermill with PYTHON: the interpreter Snakemake runs in, or `python` of
# the job's conda env under --sdm conda. No job depends on the caller's PATH or an activated venv; on Slurm and
# Kubernetes the Snakefile is parsed again inside each job, so PYTHON is the job's own interpreter.
PYTHON = "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else sys.executable
_PY = shlex.quote(PYTHON).replace("{", "{{").replace("}", "}}")  # shell.prefix formats its text like a shell command
# One machine without a scheduler (a local run's main process): GPU jobs share this machine's GPUs. Snakemake
# runs at most as many at once as there are GPUs (--resources gpu=N, else $X2S_GPUS, else the GPUs torch sees,
# honouring CUDA_VISIBLE_DEVICES; none: no limit, jobs run on the CPU), and each job leases its device ids with a
# per-host file lock: X2S_GPU_LEASE=1 in the shell commands this process runs, never in os.environ. While the
# Snakefile is read on a Slurm login node no executor is chosen yet (local_exec is true there too), and sbatch
# passes os.environ into every job; the jobs read this file again in their own process (not the main one) and
# get no lease, and the devices module ignores an inherited X2S_GPU_LEASE in a scheduler's job anyway.
LEASE_EXPORT = ""
if workflow.local_exec and workflow.is_main_process:
    from x2softmax.train.devices import LEASE_ENV, LEASE_JOB_ENV, machine_gpus, scheduler_job

    if LEASE_ENV not in os.environ:
        LEASE_EXPORT = f"export {LEASE_ENV}=1 {LEASE_JOB_ENV}={shlex.quote(scheduler_job())}; "
    if "gpu" not in workflow.global_resources and (n_gpus := machine_gpus()) > 0:
        workflow.register_resource("gpu", n_gpus)

# The CPU code paths of torch's numerics (config key cpu_kernels; x2softmax.cpukernels): exported in every job's shell,
# before the job's Python loads ATen, oneDNN and MKL (each reads its knob once, when it loads). DVC's stages and
# `make replicate` run their jobs through this file, so no job trains or evaluates without them; a user's own values
# of these variables are overridden in the jobs.
CPU_KERNEL_EXPORT = shell_exports(config["cpu_kernels"])

shell.prefix(
    "set -euo pipefail; "  # Snakemake's own prefix for bash, which shell.prefix replaces
    + LEASE_EXPORT.replace("{", "{{").replace("}", "}}")
    + CPU_KERNEL_EXPORT.replace("{", "{{").replace("}", "}}")
    + f'x2softmax() {{{{ {_PY} -m x2softmax "$@"; }}}}; papermill() {{{{ {_PY} -m papermill "$@"; }}}}; '
)


# Before any job runs: the folders of the jobs' outputs must be writable. Under the Slurm executor, before anything
# is submitted: refuse a job kind that no node of its partition can run (Slurm would keep it PENDING for ever and
# Snakemake would wait without a word), then watch squeue for jobs that pend for a reason waiting will not clear.
# x2softmax.cluster; `make cluster-check` runs the same check by hand.
onstart:
    # An unwritable output folder ends Snakemake in a traceback when it prepares the job: one line first (an
    # existing write-protected output is refused while the DAG is built: _protected_output_in_one_line above).
    if (_unwritable := snakerun.unwritable_output(str(f) for job in workflow.dag.needrun_jobs() for f in job.output)):
        refuse(f"x2softmax snakemake: {snakerun.unwritable_advice(_unwritable)}")
    plugin = workflow.executor_plugin
    if plugin is not None and plugin.name == "slurm":
        from x2softmax import cluster

        try:
            problems = cluster.oversized(cluster.kind_requests(cluster.job_requests(workflow.dag.needrun_jobs())),
                                         *cluster.read_partitions())
        except cluster.ClusterError as err:
            raise WorkflowError(str(err)) from None
        if problems:
            raise WorkflowError("cluster-check: " + "\ncluster-check: ".join(problems)
                                + "\n(set cpus_per_task, mem_mb, runtime or slurm_partition in the settings block"
                                " of the Slurm profile)")
        cluster.watch_pending(logger.error, os.getcwd())


def source(path):
    """A file of this repository used as an input: local even when a storage provider holds the data, and relative
    to the working directory (Snakemake records inputs by path: a copied or moved project keeps its results)."""
    return local(os.path.relpath(path))


def code(*relative):
    """Package source files a job depends on (changes there rerun the job)."""
    files = []
    for rel in relative:
        path = PKG / rel
        files.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    return [source(f) for f in files]


def resources_for(kind):
    """Scheduler requests of one job kind from config['resources']."""
    return config["resources"].get(kind, config["resources"]["default"])


def train_spec(wildcards):
    """The resolved training spec of a run, as JSON (a params value: a change reruns only that run)."""
    return xcfg.run_spec(config, wildcards.run).to_json()


def run_loss(run):
    """The loss registry name a run trains."""
    return xcfg.loss_spec(config, run)["name"]


def loss_sources(name):
    """The modules of the loss library that define loss `name` (its class and its bases) and losses/__init__.py,
    read from this repository's source without importing torch (x2softmax.losses.sources)."""
    return [source(f) for f in loss_files(name, PKG / "losses")]


def loss_code(wildcards):
    """The loss modules one run's loss is built from (a change there reruns only the runs of that loss)."""
    return loss_sources(run_loss(wildcards.run))


def train_files():
    """The training set's files in the data root."""
    return [f"{DATA}/train/train.rec", f"{DATA}/train/train.idx", f"{DATA}/train/property"]


def suite_meta(suite):
    """The six meta files (1:1 and 1:N) of an IJB suite in the data root (named by x2softmax.data.ijb.meta_paths)."""
    return [str(path) for path in meta_paths(Path(DATA) / suite, suite).values()]


def checked(dataset):
    """Marker written once a real dataset is present and valid (x2softmax data fetch)."""
    return f"{DATA}/.checked/{dataset}.json"


def data_inputs(kind, name=None):
    """What a rule reading the training set ('train'), a .bin set ('val') or an IJB suite ('ijb') depends on.

    Synthetic data: the generated files themselves. Real data: the preflight, which checks every required
    dataset before any training or evaluation job starts.
    """
    if config["synthetic"]:
        if kind == "train":
            return train_files()
        if kind == "val":
            return [f"{DATA}/val/{b}.bin" for b in ([name] if name else EVALUATED_BENCHMARKS)]
        return suite_meta(name)
    return ["results/preflight.json"]


def data_path(*parts):
    """A params function: DATA/part/... with the job's wildcards filled in. Every rule that reads the data root names
    it this way (a literal string would be a hard-coded prefix of the rule's files for `snakemake --lint`)."""
    return lambda wildcards: "/".join([DATA, *(part.format(**wildcards) for part in parts)])


def yaml_params(**params):
    """YAML (as JSON) for papermill's -y option, shell-quoted where used (params.parameters:q)."""
    return json.dumps(params, sort_keys=True)
