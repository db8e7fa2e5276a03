"""Hostile XML 130 files: each attack ends as a quarantined record with a reason, or a clean
exit 2, within bounded time and memory, and nothing a file points at is ever read.

Every test here fails on a parser that resolves DTDs and entities (the standard library's
ElementTree): entity-laden records would be accepted or reported as merely malformed, and a
deep embedded table would be built and read.
"""

from __future__ import annotations

import base64
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from claimguard.cli import run
from claimguard.errors import InputFileError
from claimguard.io import load_dataset
from claimguard.settings import IoSettings
from tests.io.test_io_xml import _envelope, _file, _xml1

SECRET = "TOP-SECRET-7f3a9c"
SECONDS = 5.0  # every attack is settled well within this on a loaded 2-core machine
PEAK_BYTES = 48 << 20


def _run(fn: Callable[[], Any]) -> tuple[Any, InputFileError | None]:
    try:
        return fn(), None
    except InputFileError as exc:
        return None, exc


def _measured(fn: Callable[[], Any]) -> tuple[Any, InputFileError | None, float, int]:
    """``fn()``'s result or input error, wall time, and peak traced memory (expat allocates
    through Python). Timed and traced in two runs: tracing slows parsing several times."""
    start = time.perf_counter()
    _run(fn)
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    try:
        result, error = _run(fn)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, error, elapsed, peak


def _load(path: Path, limits: IoSettings | None = None):
    """load_dataset, asserting it settles (loads or refuses) in bounded time and memory."""
    ds, error, elapsed, peak = _measured(lambda: load_dataset(path, limits=limits))
    assert elapsed < SECONDS, elapsed
    assert peak < PEAK_BYTES, peak
    if error is not None:
        raise error
    return ds


def _one_bad_record(tmp_path: Path, bad_xml1: str, raw: bool = False) -> Path:
    """An envelope of a good record A1, the hostile one (B2), and another good one (C3)."""
    hoso = [
        f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>",
        f"<HOSO>{_file('XML1', bad_xml1, raw=raw)}</HOSO>",
        f"<HOSO>{_file('XML1', _xml1('C3'))}</HOSO>",
    ]
    p = tmp_path / "hostile.xml"
    p.write_text(_envelope(hoso), encoding="utf-8")
    return p


def _assert_only_b2_quarantined(ds, reason: str) -> None:
    assert ds.counts["claims"] == {"in": 3, "valid": 2, "quarantined": 1}
    assert sorted(ds.claims["claim_id"]) == ["A1", "C3"]
    q = ds.quarantine
    assert q["source_row"].tolist() == [2]
    assert reason in q["reason"].iloc[0], q["reason"].iloc[0]


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One good load first: the timings below measure parsing, not first-use imports."""
    load_dataset(_one_bad_record(tmp_path_factory.mktemp("warm"), _xml1("B2")))


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    f = tmp_path / "secret.txt"
    f.write_text(SECRET)
    return f


def _xxe_xml1(secret: Path) -> str:
    return (
        f'<?xml version="1.0"?><!DOCTYPE TONG_HOP [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
        + _xml1("B2").replace("<MA_BENH_CHINH>J06.9", "<MA_BENH_CHINH>&xxe;")
    )


def test_xxe_in_an_embedded_table_quarantines_the_record_and_reads_nothing(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = _one_bad_record(tmp_path, _xxe_xml1(secret_file))
    ds = _load(p)
    _assert_only_b2_quarantined(ds, "XML1: inner XML declares a DTD (<!DOCTYPE>), which is refused")
    out = tmp_path / "out"
    assert run(["validate", str(p), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert SECRET not in printed.out + printed.err
    assert SECRET.encode() not in (out / "quarantine.parquet").read_bytes()
    assert not ds.quarantine.astype(str).apply(lambda c: c.str.contains(SECRET)).any().any()
    assert not ds.claims.astype(str).apply(lambda c: c.str.contains(SECRET)).any().any()


def test_xxe_in_the_envelope_exits_2_and_reads_nothing(
    tmp_path: Path, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doctype = f'<!DOCTYPE GIAMDINHHS [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>'
    text = _envelope([f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>"])
    text = text.replace("?>", "?>" + doctype, 1).replace("79001", "&xxe;", 1)
    p = tmp_path / "envelope.xml"
    p.write_text(text)
    with pytest.raises(InputFileError, match="declares a DTD"):
        load_dataset(p)
    assert run(["validate", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "declares a DTD" in err and "Fix:" in err and str(p) in " ".join(err.split())
    assert "Traceback" not in err and SECRET not in err


def test_an_internal_entity_is_refused_not_expanded(tmp_path: Path) -> None:
    """Even a harmless-looking entity makes the record untrusted: it is not expanded into a
    card number (a parser that expands it would accept B2 as a valid claim)."""
    xml1 = '<!DOCTYPE TONG_HOP [<!ENTITY card "HS4010120878811">]>' + _xml1("B2", card="&card;")
    ds = _load(_one_bad_record(tmp_path, xml1))
    _assert_only_b2_quarantined(ds, "which is refused")


def _billion_laughs(root: str) -> str:
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return f"<!DOCTYPE {root} [{''.join(ents)}]>"


def test_billion_laughs_in_an_embedded_table_is_quarantined_quickly(tmp_path: Path) -> None:
    xml1 = "<?xml version='1.0'?>" + _billion_laughs("TONG_HOP")
    xml1 += _xml1("B2").replace("J06.9", "&lol9;")
    ds = _load(_one_bad_record(tmp_path, xml1))
    _assert_only_b2_quarantined(ds, "which is refused")


def test_billion_laughs_in_the_envelope_is_refused_quickly(tmp_path: Path) -> None:
    text = _envelope([f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>"])
    text = text.replace("?>", "?>" + _billion_laughs("GIAMDINHHS"), 1)
    text = text.replace("20240131", "&lol9;", 1)
    p = tmp_path / "laughs.xml"
    p.write_text(text)
    with pytest.raises(InputFileError, match="refused"):
        _load(p)


def test_deep_nesting_inside_an_embedded_table_is_quarantined(tmp_path: Path) -> None:
    """100,000 nested elements inside XML1: never built into a tree, never walked."""
    deep = "<A>" * 100_000 + "</A>" * 100_000
    xml1 = _xml1("B2").replace("</TONG_HOP>", deep + "</TONG_HOP>")
    ds = _load(_one_bad_record(tmp_path, xml1))
    _assert_only_b2_quarantined(ds, "XML1: inner XML is nested deeper than 64 levels")


def test_deep_nesting_inside_a_record_and_outside_any(tmp_path: Path) -> None:
    deep = "<A>" * 100_000 + "</A>" * 100_000
    inside = [
        f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>",
        f"<HOSO>{_file('XML1', _xml1('B2'))}{deep}</HOSO>",
        f"<HOSO>{_file('XML1', _xml1('C3'))}</HOSO>",
    ]
    p = tmp_path / "deep_record.xml"
    p.write_text(_envelope(inside))
    _assert_only_b2_quarantined(_load(p), "nested deeper than 64 levels")
    outside = tmp_path / "deep_envelope.xml"
    outside.write_text(_envelope([inside[0], deep]))
    with pytest.raises(InputFileError, match="deeper than 64 levels"):
        _load(outside)


def test_the_depth_limit_is_a_setting(tmp_path: Path) -> None:
    nested = "<A>" * 10 + "</A>" * 10  # TONG_HOP + 10 levels: fine at 64, too deep at 8
    xml1 = _xml1("B2").replace("</TONG_HOP>", nested + "</TONG_HOP>")
    p = _one_bad_record(tmp_path, xml1)
    assert load_dataset(p).counts["claims"]["valid"] == 3
    ds = load_dataset(p, limits=IoSettings(max_xml_depth=8))
    _assert_only_b2_quarantined(ds, "nested deeper than 8 levels")


def test_an_embedded_table_of_too_many_elements_is_quarantined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flat, small elements: under the byte cap, but each costs a tree node; the parse stops
    at the element cap instead of building them all."""
    from claimguard.io import xml130_safe

    monkeypatch.setattr(xml130_safe, "MAX_PART_ELEMENTS", 1000)
    xml1 = _xml1("B2").replace("</TONG_HOP>", "<a/>" * 50_000 + "</TONG_HOP>")
    ds = _load(_one_bad_record(tmp_path, xml1))
    _assert_only_b2_quarantined(ds, "XML1: inner XML has more than 1,000 elements")


def test_a_payload_over_the_size_limit_is_quarantined_without_decoding(tmp_path: Path) -> None:
    """8 MB of valid base64 (6 MB decoded) against a 1 MB limit: quarantined, and the parse
    holds about twice the file's own text (measured 2.0x; decoding it first: 2.8x)."""
    junk = base64.b64encode(b"<TONG_HOP>" + b"x" * (6 << 20) + b"</TONG_HOP>").decode()
    p = _one_bad_record(tmp_path, junk, raw=True)
    size = p.stat().st_size
    ds, _, elapsed, peak = _measured(
        lambda: load_dataset(p, limits=IoSettings(max_xml_part_bytes=1_000_000))
    )
    _assert_only_b2_quarantined(ds, "XML1: NOIDUNGFILE decodes to more than 1,000,000 bytes")
    assert elapsed < SECONDS
    assert peak < 2.4 * size, (peak, size)


def test_the_size_limit_counts_decoded_bytes_not_line_breaks(tmp_path: Path) -> None:
    """A payload wrapped at 76 characters (as real exports do) is measured without its line
    breaks: just under the limit it is read."""
    xml1 = _xml1("B2") + "<!--" + "y" * 3000 + "-->"
    payload = base64.b64encode(xml1.encode()).decode()
    wrapped = "\r\n".join(payload[i : i + 76] for i in range(0, len(payload), 76))
    p = _one_bad_record(tmp_path, wrapped, raw=True)
    limit = len(xml1.encode())
    assert load_dataset(p, limits=IoSettings(max_xml_part_bytes=limit)).counts["claims"] == {
        "in": 3,
        "valid": 3,
        "quarantined": 0,
    }
    ds = load_dataset(p, limits=IoSettings(max_xml_part_bytes=limit - 1))
    _assert_only_b2_quarantined(ds, "decodes to more than")


@pytest.mark.parametrize(
    "payload",
    ["QUJD!!==", "QUJDRA=", "Ω" * 40, "PFRPTkdfSE9QPg== PFRP", "A" * 1001],
    ids=["punctuation", "bad-padding", "non-ascii", "padding-inside", "length-not-multiple-of-4"],
)
def test_invalid_base64_is_quarantined(tmp_path: Path, payload: str) -> None:
    ds = _load(_one_bad_record(tmp_path, payload, raw=True))
    _assert_only_b2_quarantined(ds, "XML1: NOIDUNGFILE is not valid base64")


def test_base64_of_binary_junk_is_quarantined(tmp_path: Path) -> None:
    junk = base64.b64encode(bytes(range(256)) * 4).decode()
    ds = _load(_one_bad_record(tmp_path, junk, raw=True))
    _assert_only_b2_quarantined(ds, "XML1: inner XML is malformed")


def test_io_limits_come_from_the_environment(tmp_path: Path) -> None:
    from claimguard.settings import load_settings

    s = load_settings(None, environ={"CLAIMGUARD_IO__MAX_XML_PART_BYTES": "1000"})
    assert s.io.max_xml_part_bytes == 1000
    big = _xml1("B2") + "<!--" + "x" * 2000 + "-->"
    ds = load_dataset(_one_bad_record(tmp_path, big), limits=s.io)
    _assert_only_b2_quarantined(ds, "decodes to more than 1,000 bytes")


def test_commands_read_the_limits_from_the_config(tmp_path: Path) -> None:
    """`validate --config` applies io.max_xml_part_bytes: the big record is quarantined."""
    import pandas as pd

    big = _xml1("B2") + "<!--" + "x" * 2000 + "-->"
    p = _one_bad_record(tmp_path, big)
    out = tmp_path / "out"
    assert run(["validate", str(p), "--out", str(out)]) == 0
    assert len(pd.read_parquet(out / "quarantine.parquet")) == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text("io:\n  max_xml_part_bytes: 1000\n")
    assert run(["validate", str(p), "--out", str(out), "--config", str(cfg)]) == 0
    q = pd.read_parquet(out / "quarantine.parquet")
    assert q["source_row"].tolist() == [2] and "more than 1,000 bytes" in q["reason"].iloc[0]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_an_entity_in_a_utf16_embedded_table_is_refused(tmp_path: Path, encoding: str) -> None:
    """In UTF-16 "<!DOCTYPE" is not those ASCII bytes: the document must still go to
    defusedxml (a parser that expanded the entity would accept B2 as a valid claim)."""
    xml1 = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE TONG_HOP [<!ENTITY card "HS4010120878811">]>' + _xml1("B2", card="&card;")
    )
    payload = base64.b64encode(xml1.encode(encoding)).decode()
    ds = _load(_one_bad_record(tmp_path, payload, raw=True))
    _assert_only_b2_quarantined(ds, "which is refused")


def test_a_doctype_only_in_a_comment_still_goes_to_the_safe_parser(tmp_path: Path) -> None:
    """Any "<!DOCTYPE" bytes send a document to defusedxml; a harmless one is read by it."""
    xml1 = "<!-- <!DOCTYPE x> -->" + _xml1("B2")
    ds = load_dataset(_one_bad_record(tmp_path, xml1))
    assert ds.counts["claims"] == {"in": 3, "valid": 3, "quarantined": 0}


def test_a_utf16_envelope_with_a_dtd_exits_2(tmp_path: Path, secret_file: Path) -> None:
    doctype = f'<!DOCTYPE GIAMDINHHS [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>'
    text = _envelope([f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>"])
    text = text.replace("encoding='utf-8'", "encoding='utf-16'").replace("?>", "?>" + doctype, 1)
    p = tmp_path / "utf16.xml"
    p.write_bytes(text.replace("79001", "&xxe;", 1).encode("utf-16"))
    with pytest.raises(InputFileError, match="declares a DTD"):
        load_dataset(p)


def test_a_utf16_envelope_without_a_dtd_is_read(tmp_path: Path) -> None:
    text = _envelope([f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>"])
    p = tmp_path / "utf16.xml"
    p.write_bytes(text.replace("encoding='utf-8'", "encoding='utf-16'").encode("utf-16"))
    assert load_dataset(p).counts["claims"] == {"in": 1, "valid": 1, "quarantined": 0}


@pytest.mark.parametrize("name", ["UTF-16-LE", "shift_jis", "no-such-encoding", "cp037"])
def test_an_unsupported_declared_encoding_is_quarantined_or_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """expat raises ValueError/LookupError for these, not a parse error: still no traceback."""
    text = _envelope([f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>"])
    p = tmp_path / "declared.xml"
    p.write_text(text.replace("encoding='utf-8'", f"encoding='{name}'"))
    assert run(["validate", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "encoding" in err and "Fix:" in err and "Traceback" not in err
    xml1 = f'<?xml version="1.0" encoding="{name}"?>' + _xml1("B2")
    ds = _load(_one_bad_record(tmp_path, xml1))
    assert ds.counts["claims"] == {"in": 3, "valid": 2, "quarantined": 1}
    assert "encoding" in ds.quarantine["reason"].iloc[0]
