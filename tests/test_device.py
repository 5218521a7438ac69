"""lrlab.device: CPU by default, CUDA when present, LRLAB_DEVICE to override."""

import pytest
import torch

from lrlab.device import default_device, resolve_device


def test_default_device_follows_cuda_availability(monkeypatch):
    monkeypatch.delenv("LRLAB_DEVICE", raising=False)
    assert default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_environment_variable_overrides(monkeypatch):
    monkeypatch.setenv("LRLAB_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")


def test_bad_device_name_is_a_clear_error():
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N', got device='gpu0'"):
        resolve_device("gpu0")
