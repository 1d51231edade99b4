"""Representation functions (model, module, TorchScript file, callable) with bounded batches, and
the decoder-Jacobian diagnostic that needs the model behind them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from dlib_fixtures import cases, parity

from disentangle_bench.metrics import (
    MIG,
    FactorVAEScore,
    JacobianOrthogonality,
    generate_batch_factor_code,
    obtain_representation,
)
from disentangle_bench.metrics.factor_vae import _variance_codes
from disentangle_bench.pipeline.representation import (
    CallableRepresentation,
    TorchRepresentation,
    model_representation,
    representation_function,
)
from disentangle_bench.util.errors import DataError

# torch 2.13 deprecates TorchScript; loading existing TorchScript files is what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


class RecordingEncoder(torch.nn.Module):
    """Linear codes of the first pixels of NCHW input; remembers the largest batch it saw."""

    def __init__(self, num_latent: int = 3) -> None:
        super().__init__()
        self.num_latent = num_latent
        self.scale = torch.nn.Parameter(torch.tensor(2.0))
        self.largest = 0
        self.calls = 0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.largest = max(self.largest, x.shape[0])
        self.calls += 1
        return self.scale * x.flatten(1)[:, : self.num_latent] - 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # not used when encode exists
        raise AssertionError("forward must not be called")


def _observations(n: int, rs=None) -> np.ndarray:
    rs = rs or np.random.RandomState(0)
    return rs.rand(n, 1, 7, 1).astype(np.float32)


def test_torch_module_never_sees_more_than_the_batch_size():
    encoder = RecordingEncoder()
    represent = representation_function(encoder)
    assert isinstance(represent, TorchRepresentation) and represent.model is encoder
    observations = _observations(10_000)
    codes = represent(observations)
    assert encoder.largest == 256 and encoder.calls == math.ceil(10_000 / 256)
    np.testing.assert_allclose(codes, 2.0 * observations.reshape(10_000, -1)[:, :3] - 1.0)
    assert codes.dtype == np.float32


def test_factor_vae_variance_estimate_is_batched():
    encoder = RecordingEncoder()
    represent = representation_function(encoder, batch_size=100)
    metric = FactorVAEScore(batch_size=16, num_train=20, num_eval=10, num_variance_estimate=10000)
    result = metric(parity.CaseData((3, 4, 5)), represent, np.random.RandomState(0))
    assert encoder.largest <= 64  # the reference's variance batch; never the 10,000 points
    reference = metric(
        parity.CaseData((3, 4, 5)),
        lambda obs: (2.0 * obs.reshape(len(obs), -1)[:, :3] - 1.0).astype(np.float32),
        np.random.RandomState(0),
    )
    assert result == pytest.approx(reference)


class Deterministic(parity.CaseData):
    """Observations that are a function of the factors only (no draws); records call sizes."""

    def __init__(self, sizes) -> None:
        super().__init__(sizes)
        self.largest = 0

    class _Half:
        def uniform(self, size):
            return np.full(size, 0.5)

    def sample_observations_from_factors(self, factors, random_state):
        self.largest = max(self.largest, len(factors))
        return cases.observe(factors, self.sizes, self._Half())


def test_variance_pass_renders_in_chunks_only_when_that_keeps_the_draws():
    def represent(obs):
        return cases.noisy(obs)

    for data in (Deterministic((3, 4, 5)), parity.CaseData((3, 4, 5))):
        got = _variance_codes(data, represent, 1000, np.random.RandomState(1))
        rs = np.random.RandomState(1)
        expected = obtain_representation(data.sample_observations(1000, rs), represent, 64)
        np.testing.assert_array_equal(got, expected)
    deterministic = Deterministic((3, 4, 5))
    _variance_codes(deterministic, represent, 1000, np.random.RandomState(1))
    assert deterministic.largest == 64


class PosteriorEncoder(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        flat = x.flatten(1)
        return flat[:, :2], torch.zeros_like(flat[:, :2])  # (mean, log-variance)


def test_module_forward_tuple_nhwc_and_callables():
    observations = _observations(50)
    flat = observations.reshape(50, -1)
    np.testing.assert_array_equal(
        representation_function(PosteriorEncoder())(observations), flat[:, :2]
    )

    class Channels(torch.nn.Module):
        def forward(self, x):
            return x[:, 0, :2, 0]  # NHWC: (N, H, W, C) -> two pixels of row 0

    nhwc = representation_function(Channels(), input_layout="NHWC", batch_size=7)
    np.testing.assert_array_equal(nhwc(observations), observations[:, 0, :2, 0])

    sizes = []

    def numpy_encoder(obs):
        sizes.append(len(obs))
        return obs.reshape(len(obs), -1)[:, :3]

    wrapped = representation_function(numpy_encoder, batch_size=16)
    assert isinstance(wrapped, CallableRepresentation)
    np.testing.assert_array_equal(wrapped(observations), flat[:, :3])
    assert max(sizes) == 16
    assert representation_function(wrapped) is wrapped
    with pytest.raises(ValueError, match=r"must return an \(16, D\) array"):
        representation_function(lambda obs: obs.reshape(-1), batch_size=16)(observations)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        wrapped(observations[:, 0])
    with pytest.raises(TypeError, match="cannot build"):
        representation_function(42)
    with pytest.raises(ValueError, match="input_layout"):
        representation_function(PosteriorEncoder(), input_layout="CHW")
    with pytest.raises(ValueError, match="batch_size"):
        representation_function(PosteriorEncoder(), batch_size=0)


class ScriptableEncoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(7, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


def test_torchscript_file(tmp_path):
    torch.manual_seed(0)
    encoder = ScriptableEncoder()
    path = tmp_path / "encoder.pt"
    torch.jit.save(torch.jit.script(encoder), str(path))
    represent = representation_function(path)
    assert represent.method == "encode"
    observations = _observations(300)
    with torch.no_grad():
        expected = encoder.encode(torch.from_numpy(observations).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(represent(observations), expected, rtol=1e-6, atol=1e-6)
    # A metric through a TorchScript file gives the same score as through the module.
    data = parity.CaseData((3, 4, 5))
    mig = MIG(num_train=200)
    assert mig(data, represent, np.random.RandomState(0)) == mig(
        data, representation_function(encoder), np.random.RandomState(0)
    )
    (tmp_path / "broken.pt").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="is not a TorchScript module"):
        representation_function(tmp_path / "broken.pt")
    with pytest.raises(DataError, match="not found"):
        representation_function(tmp_path / "missing.pt")


def test_model_representation_keeps_the_runner_interface():
    encoder = RecordingEncoder()
    represent = model_representation(encoder, torch.device("cpu"), batch_size=32)
    assert represent.model is encoder and represent.batch_size == 32
    codes, factors = generate_batch_factor_code(
        parity.CaseData((3, 4)), represent, 100, np.random.RandomState(0), 64
    )
    assert codes.shape == (100, 3) and factors.shape == (100, 2) and encoder.largest == 32


class LinearVAE(torch.nn.Module):
    """encode: the first two pixels (scaled); decode: z -> z A^T with a fixed matrix A."""

    def __init__(self, decoder_matrix: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("matrix", torch.as_tensor(decoder_matrix, dtype=torch.float32))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return torch.stack([4.0 * flat[:, 0], 4.0 * flat[:, 1], 0.001 * flat[:, 2]], dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.matrix.T) * 0.0 + z @ self.matrix.T


def test_jacobian_orthogonality_of_a_linear_decoder():
    rs = np.random.RandomState(0)
    q, _ = np.linalg.qr(rs.randn(12, 3))
    aligned = q * [3.0, 1.0, 0.5]
    c = 1 / math.sqrt(2)
    rotation = np.array([[c, -c, 0.0], [c, c, 0.0], [0.0, 0.0, 1.0]])
    rotated = q @ np.diag([3.0, 1.0, 0.5]) @ rotation.T
    metric = JacobianOrthogonality(num_train=200, num_points=20, batch_size=8)
    data = parity.CaseData((3, 4, 5))
    result = metric(data, representation_function(LinearVAE(aligned)), np.random.RandomState(0))
    # The third latent is inactive (variance of its means < 0.01): k = 2.
    assert result["num_active_dims"] == 2
    assert result["distance_to_orthogonality"] == pytest.approx(0.0, abs=1e-5)
    result = metric(data, representation_function(LinearVAE(rotated)), np.random.RandomState(0))
    assert result["distance_to_orthogonality"] == pytest.approx(
        math.sqrt(4 - 2 * math.sqrt(2)), abs=1e-4
    )
    with pytest.warns(RuntimeWarning, match="no active latent"):
        none_active = JacobianOrthogonality(
            num_train=50, num_points=5, active_variance_threshold=100.0
        )(data, representation_function(LinearVAE(aligned)), np.random.RandomState(0))
    assert math.isnan(none_active["distance_to_orthogonality"])


def test_jacobian_orthogonality_on_the_standard_beta_vae():
    from disentangle_bench.models.vae import BetaVAE

    torch.manual_seed(0)
    model = BetaVAE(observation_shape=(64, 64, 1), num_latent=3)

    class Images(parity.CaseData):
        @property
        def observation_shape(self):
            return (64, 64, 1)

        def sample_observations_from_factors(self, factors, random_state):
            return random_state.rand(len(factors), 64, 64, 1).astype(np.float32)

    result = JacobianOrthogonality(
        num_train=40, num_points=4, active_variance_threshold=0.0, batch_size=4
    )(Images((3, 4)), representation_function(model), np.random.RandomState(0))
    assert result["num_active_dims"] == 3
    assert 0.0 <= result["distance_to_orthogonality"] <= math.sqrt(6) + 1e-9
