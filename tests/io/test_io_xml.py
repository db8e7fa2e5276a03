"""XML 130 / 4210: round trip through the fixture writer, bad records, skipped tables."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from claimguard.io import load_dataset
from claimguard.io.contract import canonical_schema
from claimguard.io.mapping import load_mapping
from claimguard.io.xml130_names import XML130_MAPPING
from claimguard.io.xml130_writer import write_xml130
from tests.io.io_frames import make_dataset

LINE_KEY = ["claim_id", "line_type", "item_code", "quantity", "amount", "doctor_id"]


def _sorted_lines(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(LINE_KEY).reset_index(drop=True)


@pytest.mark.parametrize("layout", ["130", "4210"])
def test_round_trip_equals_original(tmp_path: Path, layout: str) -> None:
    ds = make_dataset(25, seed=11)
    files = write_xml130(ds, tmp_path / "xml" / "nested", records_per_file=7, layout=layout)
    assert len(files) == 4
    back = load_dataset(tmp_path / "xml")  # folder, searched recursively
    pd.testing.assert_frame_equal(back.claims, ds.claims)
    pd.testing.assert_frame_equal(_sorted_lines(back.claim_lines), _sorted_lines(ds.claim_lines))
    canonical_schema("claims").validate(back.claims)
    assert back.counts["claims"] == {"in": 25, "valid": 25, "quarantined": 0}
    assert set(back.sources) == {str(f) for f in files}


def test_4210_names_and_codes_are_read(tmp_path: Path) -> None:
    ds = make_dataset(6, seed=12)
    [f] = write_xml130(ds, tmp_path, records_per_file=10, layout="4210")
    text = f.read_text()
    first = re.search(r"<NOIDUNGFILE>([^<]+)</NOIDUNGFILE>", text)
    assert first is not None
    inner = base64.b64decode(first.group(1)).decode()
    assert "<MA_THE>" in inner and "<MA_BENH>" in inner and "<T_TONGCHI>" in inner
    assert re.search(r"<NGAY_SINH>\d{8}</NGAY_SINH>", inner)
    back = load_dataset(f)
    assert back.claims["card_id"].tolist() == ds.claims["card_id"].tolist()
    assert back.claims["visit_type"].tolist() == ds.claims["visit_type"].tolist()
    assert back.claims["patient_birth_date"].equals(ds.claims["patient_birth_date"])


def _envelope(hoso: list[str]) -> str:
    return (
        "<?xml version='1.0' encoding='utf-8'?><GIAMDINHHS><THONGTINDONVI><MACSKCB>79001"
        "</MACSKCB></THONGTINDONVI><THONGTINHOSO><NGAYLAP>20240131</NGAYLAP><SOLUONGHOSO>"
        f"{len(hoso)}</SOLUONGHOSO><DANHSACHHOSO>{''.join(hoso)}</DANHSACHHOSO></THONGTINHOSO>"
        "<CHUKYDONVI/></GIAMDINHHS>"
    )


def _file(kind: str, xml: str, raw: bool = False) -> str:
    payload = xml if raw else base64.b64encode(xml.encode()).decode()
    return f"<FILEHOSO><LOAIHOSO>{kind}</LOAIHOSO><NOIDUNGFILE>{payload}</NOIDUNGFILE></FILEHOSO>"


def _xml1(link: str, card: str = "HS4010120878811;HS4010120878812") -> str:
    return (
        f"<TONG_HOP><MA_LK>{link}</MA_LK><MA_THE_BHYT>{card}</MA_THE_BHYT>"
        "<NGAY_SINH>198005010000</NGAY_SINH><GIOI_TINH>2</GIOI_TINH>"
        "<GT_THE_TU>20240101;20240601</GT_THE_TU><GT_THE_DEN>20241231</GT_THE_DEN>"
        "<MA_BENH_CHINH>J06.9</MA_BENH_CHINH><MA_LOAI_KCB>09</MA_LOAI_KCB>"
        "<NGAY_VAO>202401150830</NGAY_VAO><NGAY_RA>202401151000</NGAY_RA>"
        "<KET_QUA_DTRI>6</KET_QUA_DTRI><T_TONGCHI_BH>150000.5</T_TONGCHI_BH>"
        "<UNKNOWN_ELEMENT>x</UNKNOWN_ELEMENT></TONG_HOP>"
    )


def test_bad_record_is_quarantined_and_the_rest_is_read(tmp_path: Path) -> None:
    exam = (
        "<CHITIEU_CHITIET_DVKT_VTYT><DSACH_CHI_TIET_DVKT><CHI_TIET_DVKT><MA_LK>A1</MA_LK>"
        "<MA_DICH_VU>02.1896</MA_DICH_VU><MA_NHOM>13</MA_NHOM><SO_LUONG>1</SO_LUONG>"
        "<THANH_TIEN_BH>38700</THANH_TIEN_BH><MA_BAC_SI>BS9</MA_BAC_SI></CHI_TIET_DVKT>"
        "</DSACH_CHI_TIET_DVKT></CHITIEU_CHITIET_DVKT_VTYT>"
    )
    hoso = [
        f"<HOSO>{_file('XML1', _xml1('A1'))}{_file('XML3', exam)}"
        f"{_file('XML4', '<CHI_TIEU_DICH_VU_CAN_LAM_SANG/>')}"
        f"{_file('XML11', '<CHUNG_TU_NGHI_VIEC_HUONG_BHXH><SO_NGAY_NGHI>5</SO_NGAY_NGHI></CHUNG_TU_NGHI_VIEC_HUONG_BHXH>')}</HOSO>",
        f"<HOSO>{_file('XML1', 'not base64 at all!', raw=True)}</HOSO>",
        f"<HOSO>{_file('XML1', '<TONG_HOP><MA_LK>B2')}</HOSO>",  # malformed inner XML
        f"<HOSO>{_file('XML1', _xml1('C3'))}</HOSO>",
    ]
    p = tmp_path / "one.xml"
    p.write_text(_envelope(hoso))
    ds = load_dataset(p)
    assert ds.counts["claims"] == {"in": 4, "valid": 2, "quarantined": 2}
    q = ds.quarantine
    assert q["source_row"].tolist() == [2, 3] and set(q["source_file"]) == {str(p)}
    assert q["reason"].str.startswith("undecodable HOSO").all()
    assert json.loads(q["raw"].iloc[0])["hoso"] == 2
    a1 = ds.claims.set_index("claim_id").loc["A1"]
    assert a1["card_id"] == "HS4010120878811"  # several cards: the first
    assert a1["card_valid_from"] == pd.Timestamp("2024-01-01")
    assert a1["facility_id"] == "79001"  # from the envelope when XML1 lacks MA_CSKCB
    assert a1["visit_type"] == "inpatient" and a1["outcome"] == "worse"
    assert a1["patient_sex"] == "F" and a1["doctor_id"] == "BS9"
    assert a1["sick_leave_days"] == 5.0 and a1["total_cost"] == 150000.5
    assert ds.claim_lines["line_type"].tolist() == ["service"]


def test_shipped_flat_mapping_is_the_readers_mapping(repo: Path) -> None:
    assert load_mapping(repo / "configs" / "mappings" / "xml130_flat.yaml") == XML130_MAPPING


def test_deep_and_wide_records_are_quarantined_within_bounded_memory(tmp_path: Path) -> None:
    """A record nested deeper than the cap, one with more elements than the cap, and a wide
    envelope of junk between records: the bad records are quarantined, the rest read, and the
    parse keeps no finished element (peak memory a small multiple of the file, not 30x)."""
    import tracemalloc

    from claimguard.io import xml130

    deep = "<X>" * (xml130.MAX_DEPTH + 5) + "</X>" * (xml130.MAX_DEPTH + 5)
    wide = "<Y/>" * (xml130.MAX_HOSO_ELEMENTS + 10)
    junk = "<PAD>" + "<Z>pad</Z>" * 200_000 + "</PAD>"
    hoso = [
        f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>",
        f"<HOSO>{_file('XML1', _xml1('B2'))}{deep}</HOSO>",
        f"<HOSO>{_file('XML1', _xml1('C3'))}{wide}</HOSO>",
        junk,
        f"<HOSO>{_file('XML1', _xml1('D4'))}</HOSO>",
    ]
    p = tmp_path / "hostile.xml"
    p.write_text(_envelope(hoso))
    size = p.stat().st_size
    tracemalloc.start()
    ds = load_dataset(p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ds.counts["claims"] == {"in": 4, "valid": 2, "quarantined": 2}
    reasons = ds.quarantine.set_index("source_row")["reason"]
    assert "deeper than" in reasons.loc[2] and "more than" in reasons.loc[3]
    assert sorted(ds.claims["claim_id"]) == ["A1", "D4"]
    assert peak < 8 * size, (peak, size)


def test_a_huge_payload_is_quarantined(tmp_path: Path) -> None:
    from claimguard.settings import IoSettings

    big = _xml1("B2") + "<!--" + "x" * 2000 + "-->"
    hoso = [f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>", f"<HOSO>{_file('XML1', big)}</HOSO>"]
    p = tmp_path / "big.xml"
    p.write_text(_envelope(hoso))
    ds = load_dataset(p, limits=IoSettings(max_xml_part_bytes=1000))
    assert ds.counts["claims"] == {"in": 2, "valid": 1, "quarantined": 1}
    assert "decodes to more than 1,000 bytes" in ds.quarantine["reason"].iloc[0]


def test_nesting_too_deep_outside_records_refuses_the_file(tmp_path: Path) -> None:
    from claimguard.errors import InputFileError
    from claimguard.io import xml130

    deep = "<X>" * (xml130.MAX_DEPTH + 5) + "</X>" * (xml130.MAX_DEPTH + 5)
    p = tmp_path / "deep.xml"
    p.write_text(_envelope([f"<HOSO>{_file('XML1', _xml1('A1'))}</HOSO>", deep]))
    with pytest.raises(InputFileError, match="deeper than"):
        load_dataset(p)


def test_lines_of_an_undecodable_record_are_counted_in_the_quarantine(tmp_path: Path) -> None:
    """A record whose XML2 is not valid base64 is quarantined, and its drug table is counted
    as a quarantined claim_lines row instead of vanishing."""
    drugs = (
        "<CHITIEU_CHITIET_THUOC><DSACH_CHI_TIET_THUOC><CHI_TIET_THUOC><MA_LK>A1</MA_LK>"
        "<MA_THUOC>40.17</MA_THUOC><SO_LUONG>10</SO_LUONG><THANH_TIEN_BH>5000</THANH_TIEN_BH>"
        "</CHI_TIET_THUOC></DSACH_CHI_TIET_THUOC></CHITIEU_CHITIET_THUOC>"
    )
    hoso = [
        f"<HOSO>{_file('XML1', _xml1('A1'))}{_file('XML2', drugs)}</HOSO>",
        f"<HOSO>{_file('XML1', _xml1('B2'))}{_file('XML2', 'not base64!', raw=True)}</HOSO>",
    ]
    p = tmp_path / "lines.xml"
    p.write_text(_envelope(hoso))
    ds = load_dataset(p)
    assert ds.counts["claims"] == {"in": 2, "valid": 1, "quarantined": 1}
    assert ds.counts["claim_lines"] == {"in": 2, "valid": 1, "quarantined": 1}
    lost = ds.quarantine[ds.quarantine["table"] == "claim_lines"]
    assert lost["source_row"].tolist() == [2] and json.loads(lost["raw"].iloc[0])["table"] == "XML2"
