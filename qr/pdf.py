"""A streaming PDF writer for pages that are each one bitmap (sticker sheets).

Pages go to the file as they arrive; only the byte offsets stay in memory, so a sheet of thousands
of pages needs no more memory than one page. Images are 1-bit, Flate-compressed: black and white
print sharply and a page of twenty codes takes tens of kilobytes.
"""

from __future__ import annotations

from typing import BinaryIO

A4_POINTS = (595.28, 841.89)


class PdfWriter:
    def __init__(self, out: BinaryIO, *, page_size: tuple[float, float] = A4_POINTS) -> None:
        self.out = out
        self.page_size = page_size
        self.offsets: dict[int, int] = {}
        self.page_ids: list[int] = []
        self.next_id = 3  # 1: catalog, 2: page tree (written last, when the pages are known)
        self.position = 0
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._object(1, b"<< /Type /Catalog /Pages 2 0 R >>")

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.position += len(data)

    def _object(self, number: int, body: bytes, stream: bytes | None = None) -> None:
        self.offsets[number] = self.position
        self._write(f"{number} 0 obj\n".encode())
        self._write(body)
        if stream is not None:
            self._write(b"\nstream\n")
            self._write(stream)
            self._write(b"\nendstream")
        self._write(b"\nendobj\n")

    def add_bitmap_page(self, *, width: int, height: int, flate_1bit: bytes) -> None:
        """A page showing one 1-bit image (rows padded to whole bytes, 1 = white), zlib-compressed."""
        image_id, content_id, page_id = self.next_id, self.next_id + 1, self.next_id + 2
        self.next_id += 3
        image_header = (
            f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray "
            f"/BitsPerComponent 1 /Filter /FlateDecode /Length {len(flate_1bit)} >>"
        ).encode()
        self._object(image_id, image_header, flate_1bit)
        w, h = self.page_size
        content = f"q {w:.2f} 0 0 {h:.2f} 0 0 cm /Im0 Do Q".encode()
        self._object(content_id, f"<< /Length {len(content)} >>".encode(), content)
        page = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w:.2f} {h:.2f}] "
            f"/Resources << /XObject << /Im0 {image_id} 0 R >> >> /Contents {content_id} 0 R >>"
        ).encode()
        self._object(page_id, page)
        self.page_ids.append(page_id)

    def close(self) -> None:
        kids = " ".join(f"{n} 0 R" for n in self.page_ids)
        self._object(2, f"<< /Type /Pages /Kids [{kids}] /Count {len(self.page_ids)} >>".encode())
        xref_at = self.position
        size = self.next_id
        lines = [f"xref\n0 {size}\n", "0000000000 65535 f \n"]
        for number in range(1, size):
            lines.append(f"{self.offsets[number]:010d} 00000 n \n")
        self._write("".join(lines).encode())
        self._write(f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode())
        self.out.flush()
