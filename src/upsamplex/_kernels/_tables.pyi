import numpy as np
from numpy.typing import NDArray

MODE_CODES: dict[str, int]
WALK_CODES: dict[str, int]
AA_HALF_WIDTH: dict[str, float]

Table = tuple[NDArray[np.intp], NDArray[np.floating], NDArray[np.intp]]

def element_strides(arr: np.ndarray) -> list[int]: ...
def build_table(
    mode: str, size_in: int, size_out: int, scale: float | None, align_corners: bool,
    dtype: np.dtype, o0: int = 0, o1: int | None = None
) -> Table: ...
def transpose_table(
    idx: NDArray[np.intp], weights: NDArray[np.floating], count: NDArray[np.intp], size_in: int,
    lo: int = 0, o_base: int = 0
) -> Table: ...
def quantize_table(
    weights: NDArray[np.float64], count: NDArray[np.intp]
) -> tuple[NDArray[np.int16], int]: ...
def periodic_x2_run(
    idx: NDArray[np.intp], w: NDArray[np.floating], cnt: NDArray[np.intp], size_in: int
) -> tuple[int, int]: ...
def periodic_down2(
    idx: NDArray[np.intp], w: NDArray[np.floating], cnt: NDArray[np.intp]
) -> tuple[int, int, int, int]: ...
