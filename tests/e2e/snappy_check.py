"""Decoders for the delivered objects' compression formats, written from the formats' specs
(gzip and zip from the standard library; Snappy framing and Hadoop's block framing by hand over
a raw Snappy decoder), so the tests do not reuse the server's own code."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile


def raw_snappy(data: bytes) -> bytes:
    """Decompress one raw Snappy block."""
    pos, shift, length = 0, 0, 0
    while True:
        b = data[pos]
        pos += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            n += 1
            out += data[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            n = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            n = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            n = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        for _ in range(n):
            out.append(out[-offset])
    assert len(out) == length
    return bytes(out)


def framed_snappy(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while pos < len(data):
        kind = data[pos]
        n = int.from_bytes(data[pos + 1:pos + 4], "little")
        chunk = data[pos + 4:pos + 4 + n]
        pos += 4 + n
        if kind == 0x00:
            out += raw_snappy(chunk[4:])  # after the masked CRC-32C
        elif kind == 0x01:
            out += chunk[4:]
        elif kind == 0xFF:
            assert chunk == b"sNaPpY"
    return bytes(out)


def hadoop_snappy(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while pos < len(data):
        raw_len, = struct.unpack(">I", data[pos:pos + 4])
        pos += 4
        block = bytearray()
        while len(block) < raw_len:
            n, = struct.unpack(">I", data[pos:pos + 4])
            pos += 4
            block += raw_snappy(data[pos:pos + n])
            pos += n
        out += block
    return bytes(out)


def decompress(compression: str, body: bytes) -> bytes:
    if compression == "GZIP":
        return gzip.decompress(body)
    if compression == "ZIP":
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            [name] = z.namelist()
            return z.read(name)
    if compression == "Snappy":
        return framed_snappy(body)
    if compression == "HADOOP_SNAPPY":
        return hadoop_snappy(body)
    return body
