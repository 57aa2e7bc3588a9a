import numpy as np
import numpy.typing as npt

_Triple = tuple[int, int, int]

def valid_range_py(
    tap: int, stride: int, padding: int, dilation: int, n_src: int, n_out: int
) -> tuple[int, int]: ...
def im2col(
    src: npt.NDArray[np.floating],
    cols: npt.NDArray[np.floating],
    offset_d: npt.NDArray[np.intp],  # (tap sets, taps)
    offset_h: npt.NDArray[np.intp],
    offset_w: npt.NDArray[np.intp],
    step: _Triple,
    out_size: _Triple,
    p0: int,
    p1: int,
) -> None: ...
def store_phases(
    tile: npt.NDArray[np.floating],
    dst: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating],
    residues: npt.NDArray[np.intp],
    step: _Triple,
    grid: _Triple,
    p0: int,
    p1: int,
) -> None: ...
def winograd_input(
    src: npt.NDArray[np.floating],
    tiles: npt.NDArray[np.floating],
    pad_h: int,
    pad_w: int,
    n_tx: int,
    t0: int,
    t1: int,
) -> None: ...
def winograd_output(
    products: npt.NDArray[np.floating],
    dst: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating],
    n_tx: int,
    t0: int,
    t1: int,
) -> None: ...
def add_bias(tile: npt.NDArray[np.floating], bias: npt.NDArray[np.floating]) -> None: ...
