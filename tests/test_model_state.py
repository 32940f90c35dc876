"""ModelState: networks, optimisers and buffers found by what they are, saved and restored whole."""
from __future__ import annotations

import numpy as np
import pytest

import tinygen
from tinygen import nn, optim
from tinygen.models import ModelState


def _state(seed: int = 0) -> ModelState:
    tinygen.manual_seed(seed)
    G, D = nn.Linear(3, 2), nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4))
    model = ModelState(G=G, D=D, opt_G=optim.Adam(G.parameters(), lr=0.1), opt_D=optim.SGD(D.parameters(), lr=0.1),
                       chains=np.zeros((5, 3), np.float32), count=0)
    model.register_buffer("latent", tinygen.zeros(2))
    model.setting = "not saved"  # a plain attribute: build recomputes it
    return model


def _step(model: ModelState) -> None:
    loss = (model.D(model.G(tinygen.randn(8, 3))) ** 2).mean()
    model.opt_G.zero_grad(), model.opt_D.zero_grad()
    loss.backward()
    model.opt_G.step(), model.opt_D.step()
    model.chains = model.chains + 1.5
    model.count = model.count + 1
    model.latent = model.latent + 2.0


def test_parts_are_sorted_by_kind_and_saved_in_assignment_order():
    model = _state()
    assert [n for n, _ in model.networks()] == ["G", "D"]
    assert [n for n, _ in model.optimizers()] == ["opt_G", "opt_D"]
    assert [n for n, _ in model.buffers()] == ["chains", "count", "latent"]
    state = model.state_dict()
    assert list(state) == ["G", "D", "opt_G", "opt_D", "chains", "count", "latent"]
    assert set(state["D"]) == set(model.D.state_dict())  # running statistics included
    assert "setting" not in state


def test_a_saved_and_loaded_state_continues_identically(tmp_path):
    model = _state(0)
    _step(model)
    tinygen.save({"model": model.state_dict()}, tmp_path / "c.npz")
    twin = _state(1)  # different initial weights: everything must come from the file
    twin.load_state_dict(tinygen.load(tmp_path / "c.npz")["model"])
    assert twin.count == 1 and isinstance(twin.latent, tinygen.Tensor)
    np.testing.assert_array_equal(twin.chains, np.full((5, 3), 1.5, np.float32))
    tinygen.manual_seed(7)
    _step(model)
    tinygen.manual_seed(7)
    _step(twin)
    for (name, a), (_, b) in zip(model.networks(), twin.networks()):
        for (key, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            np.testing.assert_array_equal(x, y, err_msg=f"{name}.{key}")  # optimiser moments came back too


def test_state_dict_holds_copies():
    model = _state()
    state = model.state_dict()
    model.chains += 1.0  # in place, after the state was taken
    assert state["chains"].sum() == 0.0


def test_missing_and_unexpected_entries_are_listed_in_one_error():
    model = _state()
    state = model.state_dict()
    del state["opt_D"]
    state["extra"] = 1
    with pytest.raises(KeyError, match=r"missing entries \['opt_D'\], unexpected entries \['extra'\]"):
        _state().load_state_dict(state)


def test_reassigning_keeps_a_part_in_its_kind_and_a_network_cannot_be_a_buffer():
    model = _state()
    model.G = nn.Linear(3, 2)
    model.chains = np.ones(2)
    assert [n for n, _ in model.networks()] == ["G", "D"] and "chains" in dict(model.buffers())
    with pytest.raises(TypeError, match="assign it as an attribute"):
        model.register_buffer("net", nn.Linear(1, 1))


def test_train_and_eval_switch_every_module_of_every_network():
    model = _state()
    model.eval()
    assert not any(m.training for _, net in model.networks() for m in net.modules())
    model.train()
    assert all(m.training for _, net in model.networks() for m in net.modules())


def test_a_subclass_must_call_the_base_init():
    class Broken(ModelState):
        def __init__(self):
            self.net = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="must call super"):
        Broken()
