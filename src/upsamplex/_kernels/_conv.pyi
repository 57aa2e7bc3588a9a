from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

_Triple = tuple[int, int, int]

def valid_range_py(
    tap: int, stride: int, padding: int, dilation: int, n_src: int, n_out: int
) -> tuple[int, int]: ...
def im2col_gemm(
    src: npt.NDArray[np.floating],  # (N, C, D, H, W)
    cols: npt.NDArray[np.floating],  # (team, rows * tile); no rows: src is its own columns
    offset_d: npt.NDArray[np.intp],  # (1, taps)
    offset_h: npt.NDArray[np.intp],
    offset_w: npt.NDArray[np.intp],
    step: _Triple,
    out_size: _Triple,
    tile: int,
    per_sample: int,
    dst: npt.NDArray[np.floating],  # (N, M, positions), or empty
    bias: npt.NDArray[np.floating],  # (M,), or empty
    gemm: Callable[[int, int, int], object],  # (item, tile, thread)
    num_threads: int,
) -> None: ...
def phase_gemm(
    src: npt.NDArray[np.floating],  # (N, M, D, H, W)
    cols: npt.NDArray[np.floating],  # (team, rows * tile)
    tiles: npt.NDArray[np.floating],  # (team, P * C * tile)
    sets: Sequence[tuple[npt.NDArray[np.intp], _Triple, tuple[npt.NDArray[np.intp], ...], bool]],
    dst: npt.NDArray[np.floating],  # (N, C, D, H, W)
    bias: npt.NDArray[np.floating],
    step: _Triple,
    tile: int,
    gemm: Callable[[int, int, int], object],  # (item, set, thread)
    num_threads: int,
) -> None: ...
def winograd_gemm(
    src: npt.NDArray[np.floating],  # (N, C, H, W)
    tiles: npt.NDArray[np.floating],  # (team, 16 * C * width)
    products: npt.NDArray[np.floating],  # (team, 16 * M * width)
    dst: npt.NDArray[np.floating],  # (N, M, OH, OW)
    bias: npt.NDArray[np.floating],
    pad_h: int,
    pad_w: int,
    width: int,
    gemm: Callable[[int, int, int], object],  # (item, 0, thread)
    num_threads: int,
) -> None: ...

class DirectCall:
    def __init__(
        self, transposed: bool, wide: bool, x5_shape: Sequence[int], w5_shape: Sequence[int],
        y5_shape: Sequence[int], stride: _Triple, padding: _Triple, dilation: _Triple,
        groups: int, items: int,
    ) -> None: ...
    def __call__(
        self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, y: np.ndarray
    ) -> None: ...
def channel_sums(
    src: npt.NDArray[np.floating],  # (N, C, positions), C-contiguous
    out: npt.NDArray[np.float64],  # (C,)
    num_threads: int,
) -> None: ...
