"""Benchmark (not a test) of e-document issuance: QR issue/s and verify/s per core, PDF issue/s.

    .venv/bin/python -m loadtests.bench_issuance [--seconds 5] [--processes N]

QR numbers are one process on one core (the work is CPU-bound and per request). PDF issuance is render +
PAdES B-T signing with the built-in TSA in-process, first on one core, then in N worker processes (default:
every core) to show the machine's throughput. Keys are made in a temporary directory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from document_specs.loader import load_catalog
from hub.issuance import fonts, numbers, pdf, qr
from hub.issuance.keys import DocumentKeyRing
from hub.issuance.pki import load_or_create_pki
from hub.issuance.signing import PdfSigner
from hub.issuance.tsa import TimeStampAuthority

FIELDS = {
    "name": "박유나",
    "resident_number_masked": "031126-0******",
    "birth_date": "2003-11-26",
    "sex": "여",
    "address": "서울특별시 서초구 서초대로 123, 456동 789호",
    "postal_code": "06591",
    "moved_in_on": "2020-03-01",
}


def _rate(work: Callable[[], object], seconds: float) -> tuple[float, float]:
    """(operations per wall-clock second, per CPU second of this process): the second is the per-core
    figure even on a busy machine."""
    work()  # warm
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        work()
        done += 1
    return done / elapsed, done / max(time.process_time() - cpu, 1e-9)


def _claims(number: str) -> qr.DocumentClaims:
    now = datetime.now(UTC)
    return qr.DocumentClaims(
        issuer="http://127.0.0.1:8000",
        issued_at=int(now.timestamp()),
        expires_at=int((now + timedelta(days=90)).timestamp()),
        number=number,
        document_type="resident_registration_abstract",
        view="basic",
        holder="mois",
        fields=FIELDS,
    )


def _pdf_worker(key_dir: str, seconds: float, out: multiprocessing.Queue[float]) -> None:
    out.put(_pdf_rate(Path(key_dir), seconds)[0])


def _pdf_rate(key_dir: Path, seconds: float) -> tuple[float, float]:
    pki = load_or_create_pki(key_dir / "issuance")
    signer = PdfSigner(pki, TimeStampAuthority(pki.tsa, [pki.ca]))
    key = DocumentKeyRing.load_or_create(key_dir / "issuance" / "cose").current()
    spec = load_catalog()["resident_registration_abstract"]
    font = fonts.register()

    def issue() -> bytes:
        number = numbers.generate()
        payload = qr.encode(_claims(number), key)
        request = pdf.RenderRequest(
            spec, "basic", FIELDS, number, datetime.now(UTC), payload, "http://hub/verify", "123456"
        )
        return signer.sign(pdf.render(request, font), payload, number)

    return _rate(issue, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        key_dir = Path(tmp)
        ring = DocumentKeyRing.load_or_create(key_dir / "issuance" / "cose")
        key = ring.current()
        trust = qr.TrustList.from_document_keys(ring.all())
        payload = qr.encode(_claims(numbers.generate()), key)
        now = datetime.now(UTC)
        print(f"payload: {len(payload)} characters (QR version {qr.make_qr(payload).version}, level Q)")

        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        wall, cpu = _rate(lambda: qr.encode(_claims(numbers.generate()), key), args.seconds)
        print(f"QR issue  (claims → COSE ES256 → zlib → Base45): {cpu:7.0f}/s per core, {wall:7.0f}/s wall")
        wall, cpu = _rate(lambda: qr.verify(payload, trust, now), args.seconds)
        print(f"QR verify (Base45 → zlib → COSE → ES256):        {cpu:7.0f}/s per core, {wall:7.0f}/s wall")

        fonts.register()
        load_or_create_pki(key_dir / "issuance")
        wall, cpu = _pdf_rate(key_dir, args.seconds)
        print(f"PDF issue (render + PAdES B-T + RFC 3161):       {cpu:7.1f}/s per core, {wall:7.1f}/s wall")
        queue: multiprocessing.Queue[float] = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(target=_pdf_worker, args=(str(key_dir), args.seconds, queue))
            for _ in range(args.processes)
        ]
        for worker in workers:
            worker.start()
        rates = [queue.get() for _ in workers]
        for worker in workers:
            worker.join()
        print(f"PDF issue, {args.processes} processes:                    {sum(rates):7.1f}/s wall")
        print("targets: QR issue >= 500/s and verify >= 2,000/s per core, PDF issue >= 30/s")


if __name__ == "__main__":
    main()
