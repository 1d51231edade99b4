"""Procedural Shapes3D: a small 3D room ray-cast in batched torch, on 3dshapes' factor grid.

Factors, in 3dshapes' order and index layout (row-major, orientation fastest): floor hue, wall
hue, object hue (10 each: 0, 0.1, ..., 0.9), scale (8 values in [0.75, 1.25]), shape (0 cube,
1 cylinder, 2 sphere, 3 capsule) and orientation (15 values in [-30, 30] degrees), 480,000
64 x 64 RGB images (Burgess and Kim, "3D Shapes Dataset", 2018).

The scene: a floor (plane y = 0), three walls of one colour (x = -3, x = 3, z = 3, unbounded
upwards), one object standing on the floor at the origin, and a pinhole camera (45 degree field of
view) at distance 3 and height 1.6, looking at (0, 0.4, 0), that orbits the object: the
orientation factor is the camera's azimuth (positive: the camera moves to +x, i.e. to its right),
so the walls, their corners and (for the cube) the object's faces move with it. One directional
light (from the camera's left, above and behind) gives Lambertian shading with ambient term 0.35
and diffuse term 0.65, and the object casts a shadow on the floor and walls. Object sizes at
scale 1: cube of edge 0.9, cylinder of radius 0.45 and height 0.9, sphere of radius 0.5, capsule
of radius 0.3 and total height 1.2, all upright and axis-aligned; every size is proportional to
scale. Colours are HSV(hue, 1, 1).

Rendering is split in two (deferred shading). Geometry: for each of the 480 (scale, shape,
orientation) combinations, 4 x 4 rays per pixel are cast against the analytic surfaces (float64,
on the CPU, once; recorded in the cache, 12 MB) and give three weights per pixel: the shaded,
anti-aliased coverage of the floor, the walls and the object, as integers in 0..4096. Colour: an
image is ``floor((sum_s weight_s * rgb(hue_s) + 2048) / 4096)`` over the three surfaces, batched
torch on the dataset's device (``device='cuda'`` renders on a GPU). Every intermediate value is
an integer below 2^24, so float32 computes it exactly: the bytes are the same on any device and
in any batch.

How it differs from DeepMind's 3dshapes (rendered with MuJoCo): different room proportions,
camera, lighting, object sizes and shading model, no specular highlights; the hues are the same
values but the exact colours differ; the two are not pixel-for-pixel interchangeable. 3dshapes'
documentation says the hues are "linearly spaced in [0, 1]"; this renderer uses 0, 0.1, ..., 0.9
because hue is circular (0 and 1 are the same red) and the 10 hues must give 10 colours.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from disentangle_bench.data.loaders import SHAPES3D_CITATION, SHAPES3D_FACTORS
from disentangle_bench.data.procedural import ProceduralData
from disentangle_bench.data.storage import cache_root, stable_key
from disentangle_bench.util.files import atomic_write

IMAGE_SIZE = 64
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")
HUES = np.arange(10, dtype=np.float64) / 10.0
SCALES = np.linspace(0.75, 1.25, 8)
ORIENTATIONS = np.linspace(-30.0, 30.0, 15)
FULL_GRID = (HUES, HUES, HUES, SCALES, np.arange(4, dtype=np.float64), ORIENTATIONS)
SMALL_INDICES = ([0, 3, 6], [0, 3, 6], [0, 2, 5, 7], [0, 2, 5, 7], [0, 1, 2, 3], [0, 4, 7, 10, 14])
SMALL_GRID = tuple(full[idx] for full, idx in zip(FULL_GRID, SMALL_INDICES))

# Scene constants (world units; y up, the object at the origin).
CAMERA_DISTANCE = 3.0
CAMERA_HEIGHT = 1.6
CAMERA_TARGET = (0.0, 0.4, 0.0)
FIELD_OF_VIEW_DEGREES = 45.0
WALL_X = 3.0
WALL_Z = 3.0
LIGHT_DIRECTION = (-0.5, 1.0, -0.7)  # towards the light
AMBIENT = 0.35
DIFFUSE = 0.65
SAMPLES_PER_AXIS = 4
WEIGHT_LEVELS = 4096  # weights are quantised to integers 0..4096 (12-bit steps)
WEIGHT_SHIFT = 12  # log2(WEIGHT_LEVELS)
SATURATION = 1.0
VALUE = 1.0
_EPS = 1e-9


def hue_to_rgb(hue: np.ndarray, saturation: float = SATURATION, value: float = VALUE) -> np.ndarray:
    """HSV -> RGB (float64 in [0, 1]) for an array of hues in [0, 1)."""
    hue = np.asarray(hue, dtype=np.float64)
    h6 = (hue % 1.0) * 6.0
    sector = np.floor(h6).astype(int) % 6
    f = h6 - np.floor(h6)
    p = value * (1.0 - saturation)
    q = value * (1.0 - saturation * f)
    t = value * (1.0 - saturation * (1.0 - f))
    v = np.full_like(hue, value)
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros((*hue.shape, 3))
    for k, (r, g, b) in enumerate(table):
        mask = sector == k
        out[mask] = np.stack([np.broadcast_to(c, hue.shape)[mask] for c in (r, g, b)], axis=-1)
    return out


# Vectors are (x, y, z) tuples of same-shaped float64 tensors: component-wise arithmetic is much
# faster than reductions over a trailing axis of length 3.
Vec = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
INF = math.inf


def _dot(a: Vec, b: Vec) -> torch.Tensor:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _unit(v: tuple[float, float, float]) -> tuple[float, float, float]:
    norm = math.sqrt(v[0] ** 2 + v[1] ** 2 + v[2] ** 2)
    return (v[0] / norm, v[1] / norm, v[2] / norm)


def _cross(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float]:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def camera_rays(orientation_degrees: float) -> tuple[tuple[float, float, float], Vec]:
    """Camera position and unit ray directions, each component (64, 64, S * S)."""
    azimuth = math.radians(orientation_degrees)
    origin = (
        CAMERA_DISTANCE * math.sin(azimuth),
        CAMERA_HEIGHT,
        -CAMERA_DISTANCE * math.cos(azimuth),
    )
    forward = _unit(tuple(t - o for t, o in zip(CAMERA_TARGET, origin)))
    right = _unit(_cross((0.0, 1.0, 0.0), forward))
    up = _cross(forward, right)
    half = math.tan(math.radians(FIELD_OF_VIEW_DEGREES) / 2.0)
    offsets = (torch.arange(SAMPLES_PER_AXIS, dtype=torch.float64) + 0.5) / SAMPLES_PER_AXIS
    pixels = torch.arange(IMAGE_SIZE, dtype=torch.float64)
    coords = (pixels[:, None] + offsets[None, :]) / IMAGE_SIZE  # (64, S)
    screen_x = ((coords * 2.0 - 1.0) * half)[None, None, :, :]  # (1, 1, col, sub-col)
    screen_y = ((1.0 - coords * 2.0) * half)[:, :, None, None]  # (row, sub-row, 1, 1)
    components = []
    for k in range(3):
        component = forward[k] + screen_x * right[k] + screen_y * up[k]
        components.append(component.expand(IMAGE_SIZE, SAMPLES_PER_AXIS, IMAGE_SIZE, -1))
    norm = torch.sqrt(components[0] ** 2 + components[1] ** 2 + components[2] ** 2)
    directions = tuple(
        (c / norm).permute(0, 2, 1, 3).reshape(IMAGE_SIZE, IMAGE_SIZE, -1) for c in components
    )
    return origin, directions  # type: ignore[return-value]


def _hit(t: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return torch.where(valid & (t > 1e-6), t, INF)


def _sphere(o: Vec, d: Vec, centre_y: float, radius: float) -> tuple[torch.Tensor, Vec]:
    oy = o[1] - centre_y
    b = o[0] * d[0] + oy * d[1] + o[2] * d[2]
    c = o[0] * o[0] + oy * oy + o[2] * o[2] - radius * radius
    disc = b * b - c
    t = _hit(-b - torch.sqrt(torch.clamp(disc, min=0.0)), disc >= 0)
    tc = torch.clamp(t, max=1e6)
    return t, ((o[0] + tc * d[0]) / radius, (oy + tc * d[1]) / radius, (o[2] + tc * d[2]) / radius)


def _box(o: Vec, d: Vec, half: float) -> tuple[torch.Tensor, Vec]:
    near, far = [], []
    for k, centre in enumerate((0.0, half, 0.0)):
        safe = torch.where(d[k].abs() < _EPS, _EPS, d[k])
        t1 = (centre - half - o[k]) / safe
        t2 = (centre + half - o[k]) / safe
        near.append(torch.minimum(t1, t2))
        far.append(torch.maximum(t1, t2))
    t_near = torch.maximum(torch.maximum(near[0], near[1]), near[2])
    t_far = torch.minimum(torch.minimum(far[0], far[1]), far[2])
    t = _hit(t_near, t_far >= t_near)
    zero = torch.zeros_like(t)
    normal = []
    taken = torch.zeros_like(t, dtype=torch.bool)
    for k in (1, 0, 2):  # ties (edges) resolve to the top face, then the sides
        face = (near[k] == t_near) & ~taken
        taken |= face
        normal.append((k, torch.where(face, -torch.sign(d[k]), zero)))
    by_axis = dict(normal)
    return t, (by_axis[0], by_axis[1], by_axis[2])


def _vertical_side(o: Vec, d: Vec, radius: float, low: float, high: float):
    a = d[0] * d[0] + d[2] * d[2]
    b = o[0] * d[0] + o[2] * d[2]
    c = o[0] * o[0] + o[2] * o[2] - radius * radius
    disc = b * b - a * c
    t = (-b - torch.sqrt(torch.clamp(disc, min=0.0))) / torch.clamp(a, min=_EPS)
    y = o[1] + t * d[1]
    t = _hit(t, (disc >= 0) & (a > _EPS) & (y >= low) & (y <= high))
    tc = torch.clamp(t, max=1e6)
    zero = torch.zeros_like(t)
    return t, ((o[0] + tc * d[0]) / radius, zero, (o[2] + tc * d[2]) / radius)


def _cap(o: Vec, d: Vec, radius: float, height: float):
    safe = torch.where(d[1].abs() < _EPS, _EPS, d[1])
    t = (height - o[1]) / safe
    x = o[0] + t * d[0]
    z = o[2] + t * d[2]
    t = _hit(t, x * x + z * z <= radius * radius)
    zero = torch.zeros_like(t)
    return t, (zero, torch.ones_like(t), zero)


def _nearest(*hits: tuple[torch.Tensor, Vec]) -> tuple[torch.Tensor, Vec]:
    t, normal = hits[0]
    for t_other, n_other in hits[1:]:
        closer = t_other < t
        t = torch.where(closer, t_other, t)
        normal = tuple(torch.where(closer, b, a) for a, b in zip(normal, n_other))  # type: ignore
    return t, normal


def object_bounds(shape: int, scale: float) -> tuple[float, float]:
    """Centre height and radius of a sphere that contains the object."""
    if shape == 0:
        half = 0.45 * scale
        return half, half * math.sqrt(3.0)
    if shape == 1:
        return 0.45 * scale, 0.45 * scale * math.sqrt(2.0)
    if shape == 2:
        return 0.5 * scale, 0.5 * scale
    return 0.6 * scale, 0.6 * scale


def _exact(o: Vec, d: Vec, shape: int, scale: float) -> tuple[torch.Tensor, Vec]:
    if shape == 0:
        return _box(o, d, 0.45 * scale)
    if shape == 1:
        radius, height = 0.45 * scale, 0.9 * scale
        return _nearest(_vertical_side(o, d, radius, 0.0, height), _cap(o, d, radius, height))
    if shape == 2:
        return _sphere(o, d, 0.5 * scale, 0.5 * scale)
    radius = 0.3 * scale
    low, high = radius, 0.9 * scale  # total height 1.2 * scale
    return _nearest(
        _vertical_side(o, d, radius, low, high),
        _sphere(o, d, low, radius),
        _sphere(o, d, high, radius),
    )


def intersect_object(o: Vec, d: Vec, shape: int, scale: float) -> tuple[torch.Tensor, Vec]:
    """Distance (inf on a miss) and unit normal of the first hit of rays ``o + t d`` (flat).

    Only rays that pass through the object's bounding sphere are tested exactly.
    """
    centre_y, radius = object_bounds(shape, scale)
    oy = o[1] - centre_y
    b = o[0] * d[0] + oy * d[1] + o[2] * d[2]
    c = o[0] * o[0] + oy * oy + o[2] * o[2]
    reach = (radius * 1.001) ** 2
    near = (c - b * b <= reach) & ((b <= 0) | (c <= reach))
    candidates = torch.nonzero(near).squeeze(1)
    t = torch.full_like(b, INF)
    normal = (torch.zeros_like(b), torch.zeros_like(b), torch.zeros_like(b))
    if candidates.numel():
        o_sub = tuple(component[candidates] for component in o)
        d_sub = tuple(component[candidates] for component in d)
        t_hit, n_hit = _exact(o_sub, d_sub, shape, scale)  # type: ignore[arg-type]
        t[candidates] = t_hit
        for component, value in zip(normal, n_hit):
            component[candidates] = value
    return t, normal


def _background(origin: tuple[float, float, float], d: Vec):
    """Distance, Lambert term and wall flag of each ray's floor / wall hit (flat tensors)."""
    light = _unit(LIGHT_DIRECTION)
    candidates = []

    def plane(component: torch.Tensor, level: float, origin_k: float, sign: float):
        facing = component * sign > _EPS
        return torch.where(facing, (level - origin_k) / torch.where(facing, component, 1.0), INF)

    candidates.append((plane(d[1], 0.0, origin[1], -1.0), light[1]))  # floor, normal +y
    candidates.append((plane(d[0], -WALL_X, origin[0], -1.0), light[0]))  # left wall, +x
    candidates.append((plane(d[0], WALL_X, origin[0], 1.0), -light[0]))  # right wall, -x
    candidates.append((plane(d[2], WALL_Z, origin[2], 1.0), -light[2]))  # back wall, -z
    t = candidates[0][0]
    lambert = torch.full_like(t, max(candidates[0][1], 0.0))
    wall = torch.zeros_like(t, dtype=torch.bool)
    for t_wall, cosine in candidates[1:]:
        closer = t_wall < t
        t = torch.where(closer, t_wall, t)
        lambert = torch.where(closer, max(cosine, 0.0), lambert)
        wall |= closer
    return t, lambert, wall


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch's CPU ops on one thread, then restore the caller's setting.

    The tensors here are small (65,536 rays; 256 images): one thread is faster than two on
    this work, and several times faster when other processes compete for the cores (OpenMP
    threads then wait on each other).
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class GeometryCache:
    """Per-(scale, shape, orientation) weights, computed on first use on the CPU in float64."""

    def __init__(
        self, scales: np.ndarray, orientations: np.ndarray, path: Path | None = None
    ) -> None:
        self.path = path
        self.scales = np.asarray(scales, dtype=np.float64)
        self.orientations = np.asarray(orientations, dtype=np.float64)
        count = len(self.scales) * 4 * len(self.orientations)
        # Integer-valued float32, pixels x (floor, walls, object): every product with a colour
        # and every sum below stays under 2^24, so float32 arithmetic on them is exact.
        self.weights = torch.zeros((count, IMAGE_SIZE * IMAGE_SIZE, 3), dtype=torch.float32)
        self.ready = torch.zeros(count, dtype=torch.bool)
        self._scenes: dict[int, tuple] = {}
        self.light = _unit(LIGHT_DIRECTION)
        if path is not None and path.is_file():
            try:
                stored = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                stored = None
            if stored is not None and stored.shape == tuple(self.weights.shape):
                self.weights = torch.from_numpy(stored.astype(np.float32))
                self.ready[:] = True

    def _save(self) -> None:
        """Record all geometry weights (uint16, 12 MB) in the cache, atomically."""
        if self.path is None:
            return
        weights = self.weights.numpy().astype(np.uint16)
        with contextlib.suppress(OSError):
            atomic_write(self.path, lambda handle: np.save(handle, weights))

    def geometry_index(self, scale: np.ndarray, shape: np.ndarray, orientation: np.ndarray):
        return (scale * 4 + shape) * len(self.orientations) + orientation

    def ensure(self, geometry: np.ndarray) -> None:
        missing = np.unique(geometry)
        missing = missing[~self.ready[torch.from_numpy(missing)].numpy()]
        if not missing.size:
            return
        with single_thread():
            for g in missing:
                orientation = int(g % len(self.orientations))
                rest = int(g // len(self.orientations))
                shape, scale = rest % 4, rest // 4
                self.weights[g] = self._render(scale, shape, orientation)
                self.ready[g] = True
        if bool(self.ready.all()):
            self._save()

    def _scene(self, orientation: int):
        if orientation not in self._scenes:
            origin, directions = camera_rays(float(self.orientations[orientation]))
            d = tuple(c.reshape(-1) for c in directions)
            t, lambert, wall = _background(origin, d)  # type: ignore[arg-type]
            point = tuple(origin[k] + t * d[k] for k in range(3))
            o = tuple(torch.full_like(t, origin[k]) for k in range(3))
            light = tuple(torch.full_like(t, self.light[k]) for k in range(3))
            self._scenes[orientation] = (o, d, t, lambert, point, wall, light)
        return self._scenes[orientation]

    def _render(self, scale: int, shape: int, orientation: int) -> torch.Tensor:
        o, d, t_bg, lambert_bg, point_bg, wall, light = self._scene(orientation)
        size = float(self.scales[scale])
        t_obj, normal = intersect_object(o, d, shape, size)
        on_object = t_obj < t_bg
        shadow_t, _ = intersect_object(point_bg, light, shape, size)
        lit = torch.isinf(shadow_t)
        shade_bg = AMBIENT + DIFFUSE * lambert_bg * lit
        shade_obj = AMBIENT + DIFFUSE * torch.clamp(_dot(normal, light), min=0.0)
        weights = torch.stack(
            [
                torch.where(~on_object & ~wall, shade_bg, 0.0),
                torch.where(~on_object & wall, shade_bg, 0.0),
                torch.where(on_object, shade_obj, 0.0),
            ]
        ).reshape(3, IMAGE_SIZE * IMAGE_SIZE, -1)
        return torch.round(weights.mean(-1) * WEIGHT_LEVELS).T.to(torch.float32)


_GEOMETRY: dict[str, GeometryCache] = {}


class ProceduralShapes3D(ProceduralData):
    """Shapes3D rendered on demand from a small 3D scene (see the module docstring).

    Hyperparameters: ``cache`` (default False: render every batch on demand, fast enough to keep
    training fed; True: materialise all images once in the on-disk cache, 5.9 GB for the full
    grid, memory-mapped), ``device`` (where the colour step runs: 'cpu' or 'cuda').
    """

    name: ClassVar[str] = "shapes3d"
    grid: ClassVar[tuple[np.ndarray, ...]] = FULL_GRID
    indices: ClassVar[tuple[list[int], ...]] = tuple(list(range(len(g))) for g in FULL_GRID)
    citation: ClassVar[str] = SHAPES3D_CITATION
    categorical_factors: ClassVar[tuple[str, ...]] = ("shape",)
    description: ClassVar[str] = (
        "Procedurally rendered Shapes3D (disentangle-bench): a ray-cast room with a floor, walls "
        "and one object (cube, cylinder, sphere, capsule) seen by a camera orbiting it, on "
        "3dshapes' factor grid and index layout."
    )

    def __init__(self, cache: bool = False, device: str = "cpu") -> None:
        super().__init__(cache=cache)
        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available")
        self.device = torch.device(device)
        self._geometry: GeometryCache | None = None
        self._colours: torch.Tensor | None = None
        self._device_weights: torch.Tensor | None = None

    @property
    def factor_names(self) -> tuple[str, ...]:
        return SHAPES3D_FACTORS

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return tuple(len(values) for values in self.grid)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (IMAGE_SIZE, IMAGE_SIZE, 3)

    @property
    def value_grid(self) -> tuple[np.ndarray, ...]:
        return self.grid

    def _full_indices(self, factors: np.ndarray) -> np.ndarray:
        """Indices into the full 3dshapes grid of this grid's factor indices."""
        lookup = [np.asarray(idx, dtype=np.int64) for idx in self.indices]
        return np.stack([lookup[i][factors[:, i]] for i in range(6)], axis=1)

    def _state(self) -> GeometryCache:
        if self._geometry is None:
            key = stable_key(SCALES, ORIENTATIONS, self.renderer_version, self.key_parameters())
            if key not in _GEOMETRY:  # shared by every instance in this process
                path = cache_root() / "geometry" / f"shapes3d-{key}.npy"
                _GEOMETRY[key] = GeometryCache(SCALES, ORIENTATIONS, path)
            self._geometry = _GEOMETRY[key]
            rgb = np.round(hue_to_rgb(HUES) * 255.0).astype(np.float32)
            self._colours = torch.from_numpy(rgb).to(self.device)
        return self._geometry

    def _geometry_ids(self, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        factors = self.check_factors(factors)
        full = self._full_indices(factors)
        geometry = self._state()
        ids = geometry.geometry_index(full[:, 3], full[:, 4], full[:, 5])
        geometry.ensure(ids)
        return full, ids

    def render_tensor(self, factors: np.ndarray, *, chunk_size: int = 256) -> torch.Tensor:
        """uint8 (N, 64, 64, 3) images on the dataset's device (for GPU-resident batches).

        ``image = floor((sum_s w_s * rgb_s + 2048) / 4096)`` with integer weights ``w_s`` and
        colours ``rgb_s``, computed exactly in float32 (all values are integers below 2^24).
        """
        full, ids = self._geometry_ids(factors)
        geometry = self._state()
        assert self._colours is not None
        if self.device.type == "cpu":
            weights = geometry.weights
        else:  # every geometry once, then one copy to the device
            if self._device_weights is None:
                geometry.ensure(np.arange(len(geometry.ready)))
                self._device_weights = geometry.weights.to(self.device)
            weights = self._device_weights
        index = torch.from_numpy(ids).to(self.device)
        colours = self._colours[torch.from_numpy(full[:, :3]).to(self.device)]  # (N, 3, 3)
        pixels = IMAGE_SIZE * IMAGE_SIZE
        out = torch.empty((len(ids), pixels, 3), dtype=torch.uint8, device=self.device)
        with single_thread() if self.device.type == "cpu" else contextlib.nullcontext():
            self._compose(weights, index, colours, out, chunk_size)
        return out.reshape(len(ids), IMAGE_SIZE, IMAGE_SIZE, 3)

    def _compose(self, weights, index, colours, out, chunk_size: int) -> None:
        for start in range(0, len(index), chunk_size):
            stop = start + chunk_size
            w = weights[index[start:stop]]  # (n, pixels, 3 surfaces)
            c = colours[start:stop]  # (n, 3 surfaces, 3 channels)
            if self.device.type == "cpu":
                total = torch.bmm(w, c)
            else:  # element-wise: immune to reduced-precision (TF32) matmul settings
                total = w[:, :, 0:1] * c[:, None, 0, :]
                total += w[:, :, 1:2] * c[:, None, 1, :]
                total += w[:, :, 2:3] * c[:, None, 2, :]
            total.add_(WEIGHT_LEVELS // 2).mul_(1.0 / WEIGHT_LEVELS).floor_().clamp_(0, 255)
            out[start:stop] = total.to(torch.uint8)

    def render_factors(self, factors: np.ndarray) -> np.ndarray:
        """uint8 (N, 64, 64, 3) images for int factor indices (N, 6)."""
        return self.render_tensor(factors).cpu().numpy()

    #: The hues can be rendered between grid values (see :meth:`observations_at`).
    off_grid_factors: ClassVar[tuple[str, ...]] = SHAPES3D_FACTORS[:3]

    def observations_at(self, positions: np.ndarray) -> np.ndarray:
        """float32 (N, 64, 64, 3) at fractional hue positions (grid indices, hues interpolated
        linearly); scale, shape and orientation must be integer indices. Used by the variance
        diagnostic to move along directions between the hue axes."""
        positions = np.asarray(positions, dtype=np.float64)
        geometry_part = positions[:, 3:]
        if np.any(geometry_part != np.round(geometry_part)):
            raise ValueError("scale, shape and orientation have no values between grid values")
        grid_positions = np.round(positions).astype(np.int64)
        grid_positions[:, :3] = 0
        _, ids = self._geometry_ids(grid_positions)
        hues = np.stack(
            [
                np.interp(positions[:, k], np.arange(len(self.grid[k])), self.grid[k])
                for k in range(3)
            ],
            axis=1,
        )
        colours = torch.from_numpy(np.round(hue_to_rgb(hues) * 255.0).astype(np.float32))
        out = torch.empty((len(ids), IMAGE_SIZE * IMAGE_SIZE, 3), dtype=torch.uint8)
        self._compose(self._state().weights, torch.from_numpy(ids), colours, out, 256)
        images = out.reshape(len(ids), IMAGE_SIZE, IMAGE_SIZE, 3).numpy().astype(np.float32)
        return images * np.float32(1.0 / 255.0)

    def geometry_weights(self, factors: np.ndarray) -> np.ndarray:
        """Floor, wall and object weights in [0, 1], float64 (N, 3, 64, 64) (for tests)."""
        _, ids = self._geometry_ids(factors)
        weights = self._state().weights[torch.from_numpy(ids)].double().numpy() / WEIGHT_LEVELS
        return weights.transpose(0, 2, 1).reshape(len(ids), 3, IMAGE_SIZE, IMAGE_SIZE)

    def key_parameters(self) -> tuple[Any, ...]:
        # Every scene constant: changing any of them changes the cache keys.
        return (
            SAMPLES_PER_AXIS,
            WEIGHT_LEVELS,
            SATURATION,
            VALUE,
            CAMERA_DISTANCE,
            CAMERA_HEIGHT,
            CAMERA_TARGET,
            FIELD_OF_VIEW_DEGREES,
            WALL_X,
            WALL_Z,
            LIGHT_DIRECTION,
            AMBIENT,
            DIFFUSE,
        )


class ProceduralShapes3DSmall(ProceduralShapes3D):
    """A 2,880-image sub-grid of ``shapes3d`` for quick CPU runs (the same images).

    floor hue and wall hue {0, 0.3, 0.6}, object hue {0, 0.2, 0.5, 0.7}, scale indices
    {0, 2, 5, 7} (0.75, 0.89, 1.11, 1.25), all 4 shapes, orientation indices {0, 4, 7, 10, 14}
    (-30, -12.9, 0, 12.9, 30 degrees).
    """

    name: ClassVar[str] = "shapes3d_small"
    grid: ClassVar[tuple[np.ndarray, ...]] = SMALL_GRID
    indices: ClassVar[tuple[list[int], ...]] = SMALL_INDICES

    def __init__(self, cache: bool = True, device: str = "cpu") -> None:
        super().__init__(cache=cache, device=device)
