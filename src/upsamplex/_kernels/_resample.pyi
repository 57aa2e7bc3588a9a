import numpy as np
from numpy.typing import NDArray

Table = tuple[NDArray[np.intp], NDArray[np.floating], NDArray[np.intp]]

def resample(
    x: np.ndarray, y: np.ndarray, tables: list[Table], sizes_in: list[int], walks: list[int],
    channels_last: bool, num_threads: int
) -> None: ...
def nearest(
    x: np.ndarray, y: np.ndarray, src_d: NDArray[np.intp], src_h: NDArray[np.intp],
    src_w: NDArray[np.intp], channels_last: bool, num_threads: int,
    stream: bool = ...
) -> None: ...
def resample_hfirst(
    x: np.ndarray, y: np.ndarray, table_d: Table, table_h: Table, table_w: Table, size_id: int,
    size_ih: int, size_iw: int, walk_w: int | tuple, block: int, channels_last: bool,
    num_threads: int, stream: bool = ...
) -> None: ...
def convert(src: np.ndarray, dst: np.ndarray, num_threads: int) -> None: ...
