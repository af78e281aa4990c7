"""Weights-only loading reads mmengine's checkpoints and nothing more."""
import pickle

import numpy as np
import pytest
import torch
from malicious import CreatesFile
from mmengine.logging import HistoryBuffer, MessageHub

import mmdet_fasternet  # noqa: F401  registers the allow-list


class GetattrOnHistoryBuffer:
    """Pickles as getattr(HistoryBuffer, name)."""

    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return (getattr, (HistoryBuffer, self.name))


def test_mmengine_message_hub_loads_weights_only(tmp_path):
    hub = MessageHub.get_instance('test_safe_loading')
    for v in (1.0, 2.5, 4.0):
        hub.update_scalar('train/loss', v)
    hub.update_info('epoch', np.int64(3))
    state = dict(
        meta=dict(
            epoch=3,
            arr=np.arange(4, dtype=np.float32),
            dtype=np.dtype('float64')),
        state_dict=dict(w=torch.ones(2)),
        message_hub=hub.state_dict())
    path = tmp_path / 'ckpt.pth'
    torch.save(state, path)
    loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(2.5)
    assert buffer.max() == 4.0
    np.testing.assert_array_equal(loaded['meta']['arr'], np.arange(4))
    assert loaded['meta']['dtype'] == np.dtype('float64')


def test_pickle_that_runs_code_is_refused(tmp_path):
    target = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': CreatesFile(target)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not target.exists()


@pytest.mark.parametrize('name', ['update', '__init__', '__class__'])
def test_getattr_is_limited_to_statistics_methods(tmp_path, name):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': GetattrOnHistoryBuffer(name)}, path)
    with pytest.raises(pickle.UnpicklingError, match=name):
        torch.load(path, weights_only=True)


def test_statistics_method_lookup_is_allowed(tmp_path):
    path = tmp_path / 'ok.pth'
    torch.save({'x': GetattrOnHistoryBuffer('mean')}, path)
    assert torch.load(path, weights_only=True)['x'] is HistoryBuffer.mean


def test_empty_history_buffer_and_array_load(tmp_path):
    path = tmp_path / 'empty.pth'
    torch.save({'buffer': HistoryBuffer(), 'arr': np.array([])}, path)
    loaded = torch.load(path, weights_only=True)
    assert len(loaded['buffer'].data[0]) == 0
    assert loaded['arr'].shape == (0, )


@pytest.mark.parametrize('rank,local_rank,downloads', [(0, 0, 2), (3, 0, 1),
                                                       (5, 2, 0)])
def test_one_download_per_node(monkeypatch, tmp_path, rank, local_rank,
                               downloads):
    """8 ranks on nodes without a shared cache: rank 0, then the first
    rank of every other node; every rank meets the same barriers."""
    from mmdet_fasternet import safe_loading
    calls = []
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    monkeypatch.setattr(safe_loading, 'get_dist_info', lambda: (rank, 8))
    monkeypatch.setattr(safe_loading, 'get_local_rank', lambda: local_rank)
    monkeypatch.setattr(safe_loading, 'barrier', lambda: calls.append('|'))
    monkeypatch.setattr(safe_loading, '_download_once',
                        lambda url, path: calls.append(path))
    path = safe_loading.download_cached('https://example.invalid/w/t0.pth')
    assert path == str(tmp_path / 'checkpoints' / 't0.pth')
    assert calls.count('|') == 2
    assert len(calls) - 2 == downloads
