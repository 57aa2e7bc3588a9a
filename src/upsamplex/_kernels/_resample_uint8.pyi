import numpy as np

def resample_uint8(
    x: np.ndarray, y: np.ndarray, table_h: tuple, table_w: tuple, skip_h: bool, skip_w: bool,
    channels_last: bool, block: int, up2_w: tuple[int, int],
    num_threads: int, plain: bool = False
) -> None: ...

class U8Call:
    def __init__(
        self, x: np.ndarray, y: np.ndarray, table_h: tuple, table_w: tuple, skip_h: bool,
        skip_w: bool, channels_last: bool, block: int, up2_w: tuple[int, int],
        num_threads: int, plain: bool = False
    ) -> None: ...
    def run(self, x: np.ndarray, y: np.ndarray, num_threads: int) -> None: ...
