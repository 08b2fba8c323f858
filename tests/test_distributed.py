"""lib's training loop under DistributedDataParallel: two gloo processes equal one process, and failures end fast."""

import time

import pytest
import torch

from lib.distributed import DistributedRunError, launch_data_parallel, rank_slice, train_demo

TIMEOUT = 120  # seconds; a launch takes about 10 s on 2 idle cores


def test_two_processes_match_one_process_on_the_same_global_batch(tmp_path):
    output = tmp_path / "run.pt"
    launch_data_parallel(2, ["--steps", "10", "--global-batch", "8", "--output", str(output)], timeout=TIMEOUT)
    result = torch.load(output, weights_only=True)
    assert result["world_size"] == 2
    assert result["largest_difference_between_replicas"] == 0.0  # the replicas took identical steps
    single, history = train_demo(10, global_batch=8)
    assert result["losses"] != pytest.approx(history.losses, abs=1e-3)  # each rank saw only half the batch
    for name, value in single.state_dict().items():
        torch.testing.assert_close(result["state_dict"][name], value, rtol=1e-4, atol=1e-5)


def test_a_dying_process_makes_the_launch_fail_clearly_not_hang(tmp_path):
    arguments = ["--steps", "50", "--output", str(tmp_path / "run.pt"), "--fail-rank", "1", "--fail-at-step", "2"]
    start = time.perf_counter()
    with pytest.raises(DistributedRunError, match=r"(?s)rank 1 failed first.*rank 1: RuntimeError: rank 1 stops"):
        launch_data_parallel(2, arguments, timeout=TIMEOUT)
    assert time.perf_counter() - start < TIMEOUT
    assert not (tmp_path / "run.pt").exists()


def test_a_run_past_its_deadline_is_killed(tmp_path):
    with pytest.raises(DistributedRunError, match="did not finish within 1 s"):
        launch_data_parallel(2, ["--steps", "1000", "--output", str(tmp_path / "run.pt")], timeout=1)


def test_rank_slice_splits_evenly_or_refuses():
    batch = torch.arange(8)[:, None]
    assert torch.cat([rank_slice(batch, rank, 4) for rank in range(4)]).equal(batch)
    with pytest.raises(ValueError, match="does not split evenly"):
        rank_slice(batch, 0, 3)
    with pytest.raises(ValueError, match="rank must be in"):
        rank_slice(batch, 2, 2)
