"""Data-parallel training with PyTorch's own engine: lib's `train` loop under DistributedDataParallel.

Every process (a "rank") holds a full copy of the model and takes its own slice of each global
batch. After `backward`, DistributedDataParallel averages the gradients of all ranks, so every
copy takes the same optimizer step and the copies stay equal: the run computes what one process
would compute on the whole global batch. `torchrun` starts the processes; here they talk over
the gloo backend, which runs on CPUs. Launch the demonstration with

    torchrun --standalone --nproc_per_node 2 -m lib.distributed --steps 20 --output run.pt

or, from Python with a time limit, `launch_data_parallel(2, ["--steps", "20", "--output", "run.pt"])`.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from lib.config import TransformerConfig
from lib.corpus import python_reference_text, random_windows
from lib.model import DecoderOnlyTransformer
from lib.reproducibility import make_reproducible
from lib.tokenizers import CharTokenizer
from lib.training import TrainingHistory, language_model_loss, train

DEMO_WINDOW = 33  # characters per training window: 32 inputs, each predicting the next


class DataParallelModel(DistributedDataParallel):
    """DistributedDataParallel that also shows the wrapped model's `config`, so lib's losses work unchanged."""

    @property
    def config(self) -> TransformerConfig:
        return self.module.config


class DistributedRunError(RuntimeError):
    """A distributed run failed or did not finish in time; the message holds what the launcher reported."""


def rank_slice(batch: Tensor, rank: int, world_size: int) -> Tensor:
    """This rank's equal share of a global batch (its rows rank*n/w ... (rank+1)*n/w)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    if batch.size(0) % world_size:
        raise ValueError(f"a global batch of {batch.size(0)} does not split evenly over {world_size} processes")
    share = batch.size(0) // world_size
    return batch[rank * share : (rank + 1) * share]


def demo_model_and_batches(seed: int, global_batch: int) -> tuple[DecoderOnlyTransformer, Iterator[Tensor]]:
    """A small character language model and an endless stream of global batches of the reference text.

    The same seed gives every process the same initial weights and the same global batches.
    Dropout is off, so a process's result depends only on its data.
    """
    generator = make_reproducible(seed)
    text = python_reference_text()
    tokenizer = CharTokenizer.from_text(text)
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    config = TransformerConfig(
        vocab_size=len(tokenizer.vocabulary), d_model=32, num_heads=2, d_ff=64, num_decoder_layers=1, max_len=64
    )
    return DecoderOnlyTransformer(config), random_windows(ids, global_batch, DEMO_WINDOW, generator)


def train_demo(
    steps: int,
    global_batch: int = 16,
    seed: int = 0,
    learning_rate: float = 0.5,
    rank: int = 0,
    world_size: int = 1,
    fail_at_step: int | None = None,
) -> tuple[nn.Module, TrainingHistory]:
    """Train the demo model with lib's `train`; with world_size > 1, as one rank of a running process group.

    The optimizer is SGD with momentum, not Adam, so that the comparison with one process is exact
    up to rounding: the two runs add gradients in a different order, and Adam divides each gradient
    by its running size, which turns a difference of rounding size in a gradient that is truly zero
    (the attention keys' bias: softmax ignores a shift shared by all keys) into a full step.
    `fail_at_step` makes this rank raise at that step, to show what happens when a process dies.
    """
    model, global_batches = demo_model_and_batches(seed, global_batch)
    local_batches = (rank_slice(batch, rank, world_size) for batch in global_batches)
    trained = DataParallelModel(model) if world_size > 1 else model
    optimizer = torch.optim.SGD(trained.parameters(), lr=learning_rate, momentum=0.9)

    def compute_loss(model_to_train: nn.Module, tokens: Tensor) -> Tensor:
        if fail_at_step is not None and len(history.losses) == fail_at_step:
            raise RuntimeError(f"rank {rank} stops at step {fail_at_step} on purpose")
        return language_model_loss(model_to_train, tokens)

    history = TrainingHistory()
    train(trained, local_batches, compute_loss, optimizer, steps, history=history, description=f"rank {rank}")
    return model, history


def flat_parameters(model: nn.Module) -> Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def main(argv: list[str] | None = None) -> None:
    """One rank of a `torchrun` launch: join the group, train, and let rank 0 save the result."""
    parser = argparse.ArgumentParser(description="lib's training loop under DistributedDataParallel (gloo)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--fail-rank", type=int, default=None, help="this rank raises at --fail-at-step")
    parser.add_argument("--fail-at-step", type=int, default=1)
    args = parser.parse_args(argv)
    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    try:
        fail_at_step = args.fail_at_step if args.fail_rank == rank else None
        model, history = train_demo(
            args.steps, args.global_batch, args.seed, rank=rank, world_size=world_size, fail_at_step=fail_at_step
        )
        replicas = [torch.empty_like(flat_parameters(model)) for _ in range(world_size)]
        dist.all_gather(replicas, flat_parameters(model))
        if rank == 0:
            largest_gap = max((replica - replicas[0]).abs().max().item() for replica in replicas)
            result = {
                "state_dict": model.state_dict(),
                "losses": history.losses,
                "world_size": world_size,
                "largest_difference_between_replicas": largest_gap,
            }
            torch.save(result, args.output)
    finally:
        dist.destroy_process_group()


def launch_data_parallel(
    num_processes: int, arguments: list[str], timeout: float = 120.0
) -> subprocess.CompletedProcess:
    """Run `torchrun --standalone --nproc_per_node N -m lib.distributed ARGUMENTS` and wait at most `timeout` s.

    Raises DistributedRunError, with the launcher's report, when a process fails (torchrun then
    stops the others) or the run is still going at the deadline (every process is then killed).
    Each process gets one thread (OMP_NUM_THREADS=1), set here so that torchrun need not warn.
    """
    if num_processes < 1:
        raise ValueError(f"num_processes must be at least 1, got {num_processes}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={num_processes}"]
    command += ["-m", "lib.distributed", *arguments]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TRANSFORMER_BOOK_PROGRESS": "0"}
    root = str(Path(__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and every worker it started
        stdout, stderr = process.communicate()
        raise DistributedRunError(f"the distributed run did not finish within {timeout:g} s and was killed") from None
    if process.returncode != 0:
        raise DistributedRunError(
            f"the distributed run failed (exit code {process.returncode}){failure_report(stderr)}"
        )
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def failure_report(stderr: str) -> str:
    """The first failing rank (torchrun's "Root Cause") and each rank's last error line, from torchrun's stderr."""
    report = ""
    root_cause = re.search(r"Root Cause.*?rank\s*:\s*(\d+)", stderr, re.DOTALL)
    if root_cause:
        report += f"; rank {root_cause.group(1)} failed first"
    errors = re.findall(r"^\[rank(\d+)\]: ((?:\w+\.)*\w+(?:Error|Exception|Interrupt)\b.*)$", stderr, re.MULTILINE)
    for rank, line in errors:
        report += f"\n  rank {rank}: {line[:300]}"
    return report if errors else report + "\n" + "\n".join(stderr.strip().splitlines()[-20:])


if __name__ == "__main__":
    main()
