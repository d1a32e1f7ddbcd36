"""Make the sample show's media: short MP3 episodes and a 1400×1400 cover, with the standard library only.

Usage: python scripts/make-sample-show.py [FOLDER]   (default: content/media)

Each episode is a few seconds of tones, one pitch per chapter, written as MPEG-2 Layer III
frames (16 kHz, mono, 8 kbit/s: 36 bytes per 36 ms frame) by hand: a frame carries one
non-zero spectral line in its count1 region (Huffman table B: four bits per quadruple,
ISO/IEC 11172-3 §2.4.3.4 and 13818-3), so any MP3 decoder plays a steady tone at that
line's frequency. The bytes are the same on every run (tests/test_podcast_sample.py checks it).
The cover is an RGB PNG (Apple: square, 1400–3000 px, JPEG or PNG, RGB).
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 16_000
SAMPLES_PER_FRAME = 576
FRAME_BYTES = 36  # 72 × bitrate / sample rate for MPEG-2 Layer III
#: Sync, MPEG-2, Layer III, no CRC | 8 kbit/s, 16 kHz, no padding | mono.
HEADER = bytes([0xFF, 0xF3, 0x18, 0xC0])
#: Width of one spectral line of a long block: 8 kHz over 576 lines.
LINE_HZ = SAMPLE_RATE / 2 / SAMPLES_PER_FRAME


@dataclass(frozen=True)
class Tone:
    seconds: float
    #: Spectral line 0-575; the tone sounds at about (line + 0.5) × 13.9 Hz.
    line: int


#: Each episode: its file and its chapters' tones (the chapters files in content/media list the same start times).
EPISODES = {
    "episode-1.mp3": (Tone(4.0, 31), Tone(3.0, 40), Tone(3.0, 24)),
    "episode-2.mp3": (Tone(3.0, 28), Tone(5.0, 35)),
    "episode-3.mp3": (Tone(2.0, 45), Tone(2.0, 36), Tone(2.0, 31), Tone(2.0, 24)),
}


class Bits:
    """An MSB-first bit writer."""

    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def put(self, value: int, width: int) -> None:
        self.value = (self.value << width) | (value & ((1 << width) - 1))
        self.count += width

    def bytes(self, size: int) -> bytes:
        padding = size * 8 - self.count
        return (self.value << padding).to_bytes(size, "big")


def frame(line: int | None, gain: int) -> bytes:
    """One frame: the tone of ``line`` at ``gain`` (global_gain: amplitude 2^((gain - 210) / 4)), or silence."""
    data = Bits()
    if line is not None:
        # count1 region from line 0 (big_values = 0): one quadruple per four lines, table B codes
        # a quadruple as the inverse of its four bits; the non-zero value's sign bit follows it.
        for quad in range(line // 4 + 1):
            bits = 0b1000 >> (line % 4) if quad == line // 4 else 0
            data.put(0b1111 ^ bits, 4)
        data.put(0, 1)  # sign: positive
    side = Bits()
    side.put(0, 8)  # main_data_begin: the main data follows the side information in this frame
    side.put(0, 1)  # private bit (mono)
    side.put(data.count, 12)  # part2_3_length: no scale factor bits, then the Huffman data
    side.put(0, 9)  # big_values
    side.put(gain, 8)  # global_gain
    side.put(0, 9)  # scalefac_compress: no scale factors
    side.put(0, 1)  # window_switching_flag: a long block
    side.put(0, 15)  # table_select × 3 (no big values)
    side.put(0, 4)  # region0_count
    side.put(0, 3)  # region1_count
    side.put(0, 1)  # scalefac_scale
    side.put(1, 1)  # count1table_select: table B
    main = FRAME_BYTES - len(HEADER) - 9
    return HEADER + side.bytes(9) + data.bytes(main)


def episode(tones: tuple[Tone, ...]) -> bytes:
    """An MP3 of ``tones`` in turn, each fading in and out over a few frames (no clicks)."""
    frames = []
    for tone in tones:
        count = round(tone.seconds * SAMPLE_RATE / SAMPLES_PER_FRAME)
        for index in range(count):
            edge = min(index, count - 1 - index)
            gain = 200 - 4 * max(0, 6 - edge)  # 6 frames of fade: 6 dB a frame
            frames.append(frame(tone.line, gain) if edge > 0 else frame(None, 0))
    return b"".join(frames)


def duration(data: bytes) -> float:
    """Seconds of audio in an MP3 made here (constant bit rate)."""
    return len(data) // FRAME_BYTES * SAMPLES_PER_FRAME / SAMPLE_RATE


def cover(size: int = 1400) -> bytes:
    """A square RGB PNG: rings of sound around a dot, on a dark ground."""
    rows = bytearray()
    centre = size / 2
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            d = math.hypot(x + 0.5 - centre, y + 0.5 - centre) / size
            ring = d < 0.09 or any(abs(d - r) < 0.022 for r in (0.18, 0.28, 0.38))
            shade = 0.5 + 0.5 * y / size
            rows += bytes((0xF2, 0x6B, 0x1D) if ring else (round(0x1E * shade), round(0x29 * shade), round(0x3B * shade)))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else ROOT / "content" / "media"
    folder.mkdir(parents=True, exist_ok=True)
    for name, tones in EPISODES.items():
        data = episode(tones)
        (folder / name).write_bytes(data)
        print(f"wrote {folder / name}: {len(data)} bytes, {duration(data):.3f} s")
    (folder / "cover.png").write_bytes(cover())
    print(f"wrote {folder / 'cover.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
