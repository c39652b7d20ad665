"""The synthetic camera pattern of `crates/media/src/pattern.rs`, in Python, on I420 frames.

Both sides of a benchmark must carry the capture time the same way, so official-SDK peers
draw exactly what `visio join --fake-devices` draws and read it back the same way:

- top sixth: 3 rows of 32 code cells (each 1/32 of the width by 1/18 of the height), white 1,
  black 0, 96 bits row by row, most significant bit first: sync byte 0xA5, the 32-bit frame
  counter and the 48-bit capture time (Unix ms), both Gray-coded, then CRC-8 (poly 0x07) of
  those 10 bytes;
- middle: eight colour bands; bottom third: a dark zone where a white bar moves 1/60 of its
  travel per frame.

`read_embedded` calibrates black/white on the sync byte and rejects a damaged code (CRC), as
the Rust reader does. The colours use BT.601 limited range with Rust's rounding (half away
from zero), so frames drawn here and by the Rust source are identical.
"""

from __future__ import annotations

import math

import numpy as np

CODE_COLUMNS = 32
CODE_ROWS = 3
CELL_HEIGHT_DIVISOR = 18
SYNC = 0xA5
TIMESTAMP_MASK_MS = (1 << 48) - 1
BAR_PERIOD = 60
BANDS_RGB = [
    (255, 255, 255),
    (255, 255, 0),
    (0, 255, 255),
    (0, 255, 0),
    (255, 0, 255),
    (255, 0, 0),
    (0, 0, 255),
    (0, 0, 0),
]
BAR_ZONE_RGB = (64, 64, 64)
BAR_RGB = (255, 255, 255)
Y_BLACK, Y_WHITE, UV_NEUTRAL = 16, 235, 128
MIN_CONTRAST = 48.0
CODE_BITS = CODE_COLUMNS * CODE_ROWS


def rgb_to_yuv601(rgb) -> tuple[int, int, int]:
    r, g, b = (float(c) for c in rgb)
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    # Rust's f64::round: half away from zero (all values here are positive).
    return tuple(int(min(255.0, max(0.0, math.floor(c + 0.5)))) for c in (y, u, v))


def _frac(total: int, num: int, den: int) -> int:
    return total * num // den


def code_cell(width: int, height: int, index: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of code cell `index`."""
    col, row = index % CODE_COLUMNS, index // CODE_COLUMNS
    return (
        _frac(width, col, CODE_COLUMNS),
        _frac(height, row, CELL_HEIGHT_DIVISOR),
        _frac(width, col + 1, CODE_COLUMNS),
        _frac(height, row + 1, CELL_HEIGHT_DIVISOR),
    )


def _inner(rect, divisor=4):
    x0, y0, x1, y1 = rect
    dx, dy = (x1 - x0) // divisor, (y1 - y0) // divisor
    x0, y0, x1, y1 = x0 + dx, y0 + dy, x1 - dx, y1 - dy
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


class I420:
    """A packed I420 frame (the layout `rtc.VideoBufferType.I420` uses) as three plane views."""

    def __init__(self, width: int, height: int, data: bytearray | None = None):
        self.width, self.height = width, height
        self.cw, self.ch = (width + 1) // 2, (height + 1) // 2
        size = width * height + 2 * self.cw * self.ch
        self.data = bytearray(size) if data is None else data
        buf = np.frombuffer(self.data, dtype=np.uint8)
        ysz, csz = width * height, self.cw * self.ch
        self.y = buf[:ysz].reshape(height, width)
        self.u = buf[ysz : ysz + csz].reshape(self.ch, self.cw)
        self.v = buf[ysz + csz : ysz + 2 * csz].reshape(self.ch, self.cw)

    def paint(self, rect, yuv) -> None:
        x0, y0, x1, y1 = rect
        x0, x1 = min(x0, self.width), min(x1, self.width)
        y0, y1 = min(y0, self.height), min(y1, self.height)
        self.y[y0:y1, x0:x1] = yuv[0]
        cx0, cx1 = min(x0 // 2, self.cw), min(-(-x1 // 2), self.cw)
        cy0, cy1 = min(y0 // 2, self.ch), min(-(-y1 // 2), self.ch)
        self.u[cy0:cy1, cx0:cx1] = yuv[1]
        self.v[cy0:cy1, cx0:cx1] = yuv[2]


def _crc8(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _gray(n: int) -> int:
    return n ^ (n >> 1)


def _from_gray(g: int) -> int:
    shift = 1
    while shift < 64:
        g ^= g >> shift
        shift <<= 1
    return g


def code_bits(counter: int, ts_ms: int) -> list[bool]:
    payload = _gray(counter & 0xFFFFFFFF).to_bytes(4, "big") + _gray(ts_ms & TIMESTAMP_MASK_MS).to_bytes(
        6, "big"
    )
    raw = bytes([SYNC]) + payload + bytes([_crc8(payload)])
    return [bool(raw[i // 8] & (0x80 >> (i % 8))) for i in range(CODE_BITS)]


class PatternSource:
    """Frames of the pattern at one size: the bands and bar zone are drawn once per bar
    position (60 backgrounds), then each frame copies one and writes its code rows in one
    vectorised step, so a 720p frame costs well under a millisecond of Python and the
    publisher's process is not loaded by the drawing."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self._code_h = _frac(height, CODE_ROWS, CELL_HEIGHT_DIVISOR)
        # Which code column / row each pixel of the code zone belongs to.
        col_edges = [_frac(width, c, CODE_COLUMNS) for c in range(CODE_COLUMNS)]
        row_edges = [_frac(height, r, CELL_HEIGHT_DIVISOR) for r in range(CODE_ROWS)]
        self._col_of_x = np.searchsorted(col_edges, np.arange(width), side="right") - 1
        self._row_of_y = np.searchsorted(row_edges, np.arange(self._code_h), side="right") - 1
        self._backgrounds = []
        for pos in range(BAR_PERIOD):
            f = I420(width, height)
            f.y[:] = Y_BLACK
            f.u[:] = UV_NEUTRAL
            f.v[:] = UV_NEUTRAL
            n = len(BANDS_RGB)
            for i, rgb in enumerate(BANDS_RGB):
                band = (_frac(width, i, n), self._code_h, _frac(width, i + 1, n), _frac(height, 2, 3))
                f.paint(band, rgb_to_yuv601(rgb))
            zone = (0, _frac(height, 2, 3), width, height)
            f.paint(zone, rgb_to_yuv601(BAR_ZONE_RGB))
            bar_w = max(width // 16, 1)
            x0 = _frac(max(width - bar_w, 0), pos, BAR_PERIOD)
            f.paint((x0, zone[1], x0 + bar_w, height), rgb_to_yuv601(BAR_RGB))
            # The code is drawn last with neutral chroma, as in Rust.
            f.paint((0, 0, width, self._code_h), (Y_BLACK, UV_NEUTRAL, UV_NEUTRAL))
            self._backgrounds.append(bytes(f.data))

    def frame(self, counter: int, ts_ms: int) -> I420:
        f = I420(self.width, self.height, bytearray(self._backgrounds[counter % BAR_PERIOD]))
        bits = np.array(code_bits(counter, ts_ms)).reshape(CODE_ROWS, CODE_COLUMNS)
        cells = np.where(bits, Y_WHITE, Y_BLACK).astype(np.uint8)
        f.y[: self._code_h] = cells[self._row_of_y][:, self._col_of_x]
        return f


def luma_of_rgb(rgb: np.ndarray) -> np.ndarray:
    """The luma plane (BT.601 limited range, as `rgb_to_yuv601`) of an RGB or RGBA picture, e.g.
    a canvas read back from a page, for `read_embedded`."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return np.clip(16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0, 0, 255).astype(np.uint8)


def read_embedded(y: np.ndarray) -> tuple[int, int] | None:
    """(counter, capture ms) from the luma plane of a decoded frame (any size that keeps the
    cells at least 2 px), or None when there is no code or it is damaged."""
    height, width = y.shape
    if width < CODE_COLUMNS * 2 or height < CELL_HEIGHT_DIVISOR * 2:
        return None
    levels = np.empty(CODE_BITS)
    for row in range(CODE_ROWS):
        cells = [_inner(code_cell(width, height, row * CODE_COLUMNS + c)) for c in range(CODE_COLUMNS)]
        _, y0, _, y1 = cells[0]  # a row of cells shares its rows of pixels
        # Column sums over the cells' inner rows, then each cell's inner columns in one step.
        cum = np.concatenate(([0], y[y0:y1].sum(axis=0, dtype=np.int64).cumsum()))
        x0 = np.array([c[0] for c in cells])
        x1 = np.array([c[2] for c in cells])
        levels[row * CODE_COLUMNS : (row + 1) * CODE_COLUMNS] = (cum[x1] - cum[x0]) / ((x1 - x0) * (y1 - y0))
    sync_bits = np.array([bool(SYNC & (0x80 >> i)) for i in range(8)])
    light, dark = levels[:8][sync_bits].mean(), levels[:8][~sync_bits].mean()
    if light - dark < MIN_CONTRAST:
        return None
    bits = levels > (light + dark) / 2.0
    raw = np.packbits(bits).tobytes()
    if raw[0] != SYNC or _crc8(raw[1:11]) != raw[11]:
        return None
    counter = _from_gray(int.from_bytes(raw[1:5], "big"))
    ts = _from_gray(int.from_bytes(raw[5:11], "big"))
    return counter, ts


def assert_counters_advance(counters: list[int]) -> None:
    """Frame counters read by a subscriber never go backwards. A frame may be shown twice where
    the SFU switches the subscriber up from the low layer it started on: the high layer's first
    keyframe is of the same captured frame (seen in fresh-clone test runs: 0, 0, 1, 2, ...)."""
    assert all(b >= a for a, b in zip(counters, counters[1:])), counters[:20]
    repeats = sum(1 for a, b in zip(counters, counters[1:]) if a == b)
    assert repeats <= 2, counters[:40]
