"""A small fingerprint of a picture, to tell whether two frames show the same thing (whether
an extend's file starts like its base, whether a continuation starts with its parent's last
frame).

A signature is a 16x9 grey thumbnail as 288 hex digits. Two encodings of one picture differ
by a few levels in it, two different pictures by far more: ``same_picture`` compares the mean
absolute difference with ``SAME_PICTURE_MAX_DIFF``.
"""

from __future__ import annotations

import av

THUMB_WIDTH = 16
THUMB_HEIGHT = 9
SAME_PICTURE_MAX_DIFF = 8.0
"""Mean absolute difference (of 255 levels) up to which two thumbnails are one picture."""


def picture_signature(frame: av.VideoFrame) -> str:
    """A fingerprint of the picture: its 16x9 grey thumbnail, row by row, as hex."""
    # Through RGB first, so a YUV frame and its PNG (RGB) get the same levels.
    thumb = frame.reformat(THUMB_WIDTH, THUMB_HEIGHT, "rgb24", interpolation="AREA")
    plane = thumb.planes[0]
    data, stride = bytes(plane), plane.line_size
    grey = bytearray()
    for y in range(THUMB_HEIGHT):
        row = data[y * stride : y * stride + 3 * THUMB_WIDTH]
        grey.extend(
            (77 * row[i] + 150 * row[i + 1] + 29 * row[i + 2] + 128) >> 8
            for i in range(0, len(row), 3)
        )
    return grey.hex()


def same_picture(a: str, b: str) -> bool:
    """Whether two signatures are of one picture (two encodings of it compare equal)."""
    try:
        left, right = bytes.fromhex(a), bytes.fromhex(b)
    except ValueError:
        return False
    if len(left) != len(right) or not left:
        return False
    diff = sum(abs(x - y) for x, y in zip(left, right, strict=True)) / len(left)
    return diff <= SAME_PICTURE_MAX_DIFF
