import numpy as np

def gather_u8(
    x: np.ndarray, y: np.ndarray, src_d: np.ndarray, src_h: np.ndarray, src_w: np.ndarray,
    channels_last: bool, num_threads: int
) -> bool: ...

class GatherU8:
    def __init__(
        self, src_d: np.ndarray, src_h: np.ndarray, src_w: np.ndarray, size_iw: int
    ) -> None: ...
    def run(self, x: np.ndarray, y: np.ndarray, channels_last: bool, num_threads: int) -> bool: ...

def shuffle_table(
    src_w: np.ndarray, size_iw: int, P: int
) -> tuple[np.ndarray, np.ndarray, bool] | None: ...
