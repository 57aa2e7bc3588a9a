import numpy as np
import numpy.typing as npt

_Triple = tuple[int, int, int]

def valid_range_py(
    tap: int, stride: int, padding: int, dilation: int, n_src: int, n_out: int
) -> tuple[int, int]: ...
def im2col(
    src: npt.NDArray[np.floating],
    cols: npt.NDArray[np.floating],
    kernel: _Triple,
    stride: _Triple,
    padding: _Triple,
    dilation: _Triple,
    out_size: _Triple,
    num_threads: int,
) -> None: ...
def col2im(
    cols: npt.NDArray[np.floating],
    dst: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating],
    kernel: _Triple,
    stride: _Triple,
    padding: _Triple,
    dilation: _Triple,
    out_size: _Triple,
    num_threads: int,
) -> None: ...
