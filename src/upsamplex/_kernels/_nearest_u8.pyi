import numpy as np

def gather_u8(
    x: np.ndarray, y: np.ndarray, src_d: np.ndarray, src_h: np.ndarray, src_w: np.ndarray,
    channels_last: bool, num_threads: int
) -> bool: ...
