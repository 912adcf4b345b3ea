"""QR e-ID figures: sign, verify, first render against cached render, and sticker-sheet throughput.

Everything runs in one process on a temporary ``GMID_VAR_DIR`` (SQLite, the embedded Redis, fresh
keys), side by side in one run:

    .venv/bin/python bench/qr_bench.py                 # the full 15,016-sticker sheet
    .venv/bin/python bench/qr_bench.py --stickers 2000 # a quicker run

The figures describe this machine and this run only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt

from qr import codec, images, render, service, sheets
from qr.keys import KeyringCache
from server import db
from server import redis as gmid_redis
from server.cli import init_keys
from server.settings import Settings

BASE_URL = "https://eid.gm.sz.gov.cn/abcdefg"  # 32 characters: the size budget's worst case


def per_call_ms(fn: Callable[[], object], n: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) * 1000 / n


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stickers", type=int, default=15016, help="credentials on the sheet (default 15,016)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gmidqr", dir="/tmp") as tmp:
        settings = Settings(var_dir=tmp, public_base_url=BASE_URL, log_level="WARNING")
        init_keys(settings)
        await db.migrate(settings)
        embedded = gmid_redis.embedded_for(settings)
        embedded.start()
        client = gmid_redis.make_client(embedded.url)
        await db.open_db(settings)
        service.set_keyring(KeyringCache(settings.keys_path))
        try:
            ring = service.keyring()
            claims = codec.Claims(1, codec.new_public_id(), 1, int(time.time()))
            token = codec.sign(claims, ring)
            url = f"{BASE_URL}/q/{token}"
            public_jwk = jwt.PyJWK(ring.keys[ring.active_kid].jwk())

            print(f"token {len(token)} chars, URL {len(url)} chars, QR version {render.encode(url).version} at ECC M")
            print(f"sign (PyJWT EdDSA)                 {per_call_ms(lambda: codec.sign(claims, ring), 2000):8.3f} ms")
            print(f"verify (raw Ed25519 + checks)      {per_call_ms(lambda: codec.verify(token, ring), 2000):8.3f} ms")
            pyjwt_ms = per_call_ms(lambda: jwt.api_jws.PyJWS().decode(token, public_jwk, algorithms=["EdDSA"]), 2000)
            print(f"verify (PyJWT decode, comparison)  {pyjwt_ms:8.3f} ms")

            # First render against a cached answer: the same path the HTTP route takes.
            urls = [
                f"{BASE_URL}/q/{codec.sign(codec.Claims(1, codec.new_public_id(), 1, int(time.time())), ring)}"
                for _ in range(60)
            ]
            firsts, cached = [], []
            for n, u in enumerate(urls):
                for fmt, draw in (("png", lambda u=u: render.png(u, 512)),):
                    key = f"bench-{fmt}-{n}"
                    t0 = time.perf_counter()
                    await images.cached_image(redis=client, key=key, ttl=60, draw=draw)
                    firsts.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    await images.cached_image(redis=client, key=key, ttl=60, draw=draw)
                    cached.append(time.perf_counter() - t0)
            sticker_first = per_call_ms(
                lambda: render.sticker_png(url, title="光明区电动单车电子身份证", public_id="89FJKV98QJQM1"), 20
            )
            first_ms = statistics.median(firsts) * 1000
            cached_ms = statistics.median(cached) * 1000
            print(f"PNG 512 px, first render (median)  {first_ms:8.3f} ms")
            print(f"PNG 512 px, cached in Redis        {cached_ms:8.3f} ms   ({first_ms / cached_ms:,.0f}x faster)")
            print(f"sticker PNG, first render          {sticker_first:8.3f} ms")

            print(f"issuing {args.stickers:,} building credentials ...", flush=True)
            started = time.perf_counter()
            for i in range(args.stickers):
                await service.issue(
                    kind="building",
                    subject_id=f"B{i:05d}",
                    node_path="/GM/GM01/GM0101/GM010101/",
                    label=f"光明区出租屋 {i:05d}",
                )
            issue_ms = (time.perf_counter() - started) * 1000 / args.stickers
            print(f"issue                              {issue_ms:8.3f} ms each")
            out = Path(tmp) / "stickers.pdf"
            result = await sheets.write_sheets(
                kind="building",
                node_path=None,
                base_url=BASE_URL,
                out=out,
                workers=args.workers,
                total=args.stickers,
                on_progress=sheets.progress_bar,
            )
            print(file=sys.stderr)
            print(
                f"sheet: {result.stickers:,} stickers on {result.pages:,} A4 pages in {result.seconds:.1f} s "
                f"with {args.workers} processes ({result.stickers / result.seconds:,.0f} stickers/s, "
                f"{out.stat().st_size / 1e6:.1f} MB); target: 15,016 in under 180 s"
            )
        finally:
            service.set_keyring(None)
            await db.close_db()
            await client.aclose()
            embedded.stop()


if __name__ == "__main__":
    asyncio.run(main())
