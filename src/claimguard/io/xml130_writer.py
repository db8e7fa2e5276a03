"""Fixture writer: canonical tables -> XML 130 (or 4210) GIAMDINHHS envelope files.

Why: round-trip tests and benchmarks need realistic XML without real patients'
files. This writes the subset of elements the reader maps (see
``claimguard.io.xml130_names``), base64 NOIDUNGFILE inside the envelope, following
``XML130.md``. It is a test and benchmark tool, not an exporter for the fund.

The claim's ``doctor_id`` travels as the MA_BAC_SI of its examination line (XML3,
MA_NHOM 13): the first service line by that doctor is marked as the exam; a claim
whose doctor has no service line gets an extra zero-cost exam line ``KB01``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal, cast
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from claimguard.io.compact import decode_repetitive
from claimguard.io.xml130_names import (
    EXAM_GROUP,
    OUTCOME_CODES,
    SEX_CODES,
    VISIT_TYPE_CODES,
    VISIT_TYPE_CODES_4210,
)
from claimguard.tables import Dataset

Layout = Literal["130", "4210"]


def _fmt_dt(s: pd.Series, fmt: str) -> pd.Series:
    return cast("pd.Series", s.dt.strftime(fmt).astype(object).where(s.notna(), ""))


def _text(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "").astype(str)


def _num(s: pd.Series) -> pd.Series:
    """Shortest text that reads back to the same float (Python's repr), empty when missing."""
    v = s.astype("float64")
    return v.astype("str").where(v.notna(), "")


def _code(s: pd.Series, codes: dict[str, str]) -> pd.Series:
    return s.astype(object).map(codes).where(s.notna(), "").fillna("")


def _claim_fields(c: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """Element-named text columns for XML1 (vectorised per column)."""
    is130 = layout == "130"
    dt = "%Y%m%d%H%M"
    f: dict[str, pd.Series] = {"MA_LK": _text(c["claim_id"])}
    f["MA_THE_BHYT" if is130 else "MA_THE"] = _text(c["card_id"])
    if "patient_birth_date" in c:
        f["NGAY_SINH"] = _fmt_dt(c["patient_birth_date"], "%Y%m%d0000" if is130 else "%Y%m%d")
    if "patient_sex" in c:
        f["GIOI_TINH"] = _code(c["patient_sex"], SEX_CODES)
    for col, el in (("registered_facility_id", "MA_DKBD"), ("department_id", "MA_KHOA")):
        if col in c:
            f[el] = _text(c[col])
    for col, el in (("card_valid_from", "GT_THE_TU"), ("card_valid_to", "GT_THE_DEN")):
        if col in c:
            f[el] = _fmt_dt(c[col], "%Y%m%d")
    f["MA_BENH_CHINH" if is130 else "MA_BENH"] = _text(c["primary_dx"])
    if "secondary_dx" in c:
        f["MA_BENH_KT" if is130 else "MA_BENHKHAC"] = _text(c["secondary_dx"])
    if "referral_from" in c:
        f["MA_NOI_DI" if is130 else "MA_NOI_CHUYEN"] = _text(c["referral_from"])
    f["NGAY_VAO"] = _fmt_dt(c["admit_time"], dt)
    if "discharge_time" in c:
        f["NGAY_RA"] = _fmt_dt(c["discharge_time"], dt)
    if "outcome" in c:
        f["KET_QUA_DTRI"] = _code(c["outcome"], OUTCOME_CODES)
    for col, el in (
        ("drug_cost", "T_THUOC"),
        ("supply_cost", "T_VTYT"),
        ("insurance_paid", "T_BHTT"),
    ):
        if col in c:
            f[el] = _num(c[col])
    f["T_TONGCHI_BH" if is130 else "T_TONGCHI"] = _num(c["total_cost"])
    f["MA_LOAI_KCB"] = _code(c["visit_type"], VISIT_TYPE_CODES if is130 else VISIT_TYPE_CODES_4210)
    f["MA_CSKCB"] = _text(c["facility_id"])
    return pd.DataFrame(f, index=c.index)


def _line_fields(lines: pd.DataFrame, claims: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """Element-named text columns for XML2/XML3 lines, with MA_NHOM and exam lines."""
    is130 = layout == "130"
    ln = lines.reset_index(drop=True)
    doctor = claims.set_index("claim_id")["doctor_id"] if "doctor_id" in claims else None
    kind = ln["line_type"].astype(object)
    group = np.where(kind == "drug", "4", np.where(kind == "supply", "10", "1"))
    if doctor is not None:
        ldoc = ln["doctor_id"] if "doctor_id" in ln else pd.Series(pd.NA, index=ln.index)
        claim_doc = ln["claim_id"].map(doctor)
        cand = (kind == "service") & claim_doc.notna() & (ldoc == claim_doc).fillna(False)
        first = cand & ~ln["claim_id"].where(cand).duplicated()
        group = np.where(first.to_numpy(dtype=bool), EXAM_GROUP, group)
        covered = set(ln.loc[first, "claim_id"])
        need = claims[claims["doctor_id"].notna() & ~claims["claim_id"].isin(covered)]
        if len(need):
            extra = pd.DataFrame(
                {
                    "claim_id": need["claim_id"].to_numpy(),
                    "line_type": "service",
                    "item_code": "KB01",
                    "quantity": 1.0,
                    "amount": 0.0,
                    "doctor_id": need["doctor_id"].to_numpy(),
                }
            )
            ln = pd.concat([ln, extra], ignore_index=True)
            group = np.concatenate([group, np.full(len(extra), EXAM_GROUP)])
            kind = ln["line_type"].astype(object)
    f: dict[str, pd.Series] = {"MA_LK": _text(ln["claim_id"])}
    code = _text(ln["item_code"])
    f["MA_THUOC"] = code.where(kind == "drug", "")
    f["MA_VAT_TU"] = code.where(kind == "supply", "")
    f["MA_DICH_VU"] = code.where(kind == "service", "")
    f["MA_NHOM"] = pd.Series(group, index=ln.index)
    f["SO_LUONG"] = _num(ln["quantity"])
    f["THANH_TIEN_BH" if is130 else "THANH_TIEN"] = _num(ln["amount"])
    if "doctor_id" in ln:
        f["MA_BAC_SI"] = _text(ln["doctor_id"])
    if "order_time" in ln:
        f["NGAY_YL"] = _fmt_dt(ln["order_time"], "%Y%m%d%H%M")
    out = pd.DataFrame(f, index=ln.index)
    out["_drug"] = (kind == "drug").to_numpy()
    return out


def _records(frame: pd.DataFrame, names: list[str]) -> list[str]:
    """One ``<TAG>value</TAG>...`` string per row (empty elements omitted), column-wise."""
    out = pd.Series("", index=frame.index, dtype="str")
    for n in names:
        v = frame[n].astype("str").fillna("")
        v = v.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")
        out = out + (f"<{n}>" + v + f"</{n}>").where(v != "", "")
    return out.tolist()


def _b64(xml: str) -> str:
    return base64.b64encode(('<?xml version="1.0" encoding="utf-8"?>' + xml).encode()).decode()


def _hoso(
    xml1: str, drugs: list[str] | None, leave: str, svcs: list[str] | None, layout: Layout
) -> str:
    """One HOSO: the claim (XML1), its drugs (XML2), sick leave (XML11), services (XML3)."""
    wrap = layout == "130"  # layout 130 wraps the line lists in one more element
    files = [("XML1", xml1)]
    if drugs:
        body = "".join(f"<CHI_TIET_THUOC>{r}</CHI_TIET_THUOC>" for r in drugs)
        body = f"<DSACH_CHI_TIET_THUOC>{body}</DSACH_CHI_TIET_THUOC>"
        files.append(
            ("XML2", f"<CHITIEU_CHITIET_THUOC>{body}</CHITIEU_CHITIET_THUOC>" if wrap else body)
        )
    if leave:
        files.append(
            (
                "XML11",
                "<CHUNG_TU_NGHI_VIEC_HUONG_BHXH><SO_NGAY_NGHI>"
                f"{leave}</SO_NGAY_NGHI></CHUNG_TU_NGHI_VIEC_HUONG_BHXH>",
            )
        )
    if svcs:
        body = "".join(f"<CHI_TIET_DVKT>{r}</CHI_TIET_DVKT>" for r in svcs)
        body = f"<DSACH_CHI_TIET_DVKT>{body}</DSACH_CHI_TIET_DVKT>"
        files.append(
            (
                "XML3",
                f"<CHITIEU_CHITIET_DVKT_VTYT>{body}</CHITIEU_CHITIET_DVKT_VTYT>" if wrap else body,
            )
        )
    parts = "".join(
        f"<FILEHOSO><LOAIHOSO>{k}</LOAIHOSO><NOIDUNGFILE>{_b64(x)}</NOIDUNGFILE></FILEHOSO>"
        for k, x in files
    )
    return f"<HOSO>{parts}</HOSO>"


def write_xml130(
    ds: Dataset,
    out_dir: Path,
    records_per_file: int = 1000,
    layout: Layout = "130",
) -> list[Path]:
    """Write ``ds`` as GIAMDINHHS envelope files of ``records_per_file`` HOSO each."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    claims = decode_repetitive(ds.claims, "claims").reset_index(drop=True)
    cf = _claim_fields(claims, layout)
    xml1 = [f"<TONG_HOP>{r}</TONG_HOP>" for r in _records(cf, list(cf.columns))]
    drug_by: dict[str, list[str]] = {}
    svc_by: dict[str, list[str]] = {}
    if ds.claim_lines is not None and len(ds.claim_lines):
        lf = _line_fields(decode_repetitive(ds.claim_lines, "claim_lines"), claims, layout)
        names = [c for c in lf.columns if c != "_drug"]
        recs = _records(lf, names)
        for cid, rec, is_drug in zip(lf["MA_LK"], recs, lf["_drug"], strict=True):
            (drug_by if is_drug else svc_by).setdefault(cid, []).append(rec)
    paths = []
    ids = claims["claim_id"].astype(str).tolist()
    fac = claims["facility_id"].astype(str).tolist()
    leave = (
        _num(claims["sick_leave_days"]).tolist()
        if "sick_leave_days" in claims
        else [""] * len(claims)
    )
    for start in range(0, len(claims), records_per_file):
        hoso = [
            _hoso(xml1[i], drug_by.get(ids[i]), leave[i], svc_by.get(ids[i]), layout)
            for i in range(start, min(start + records_per_file, len(claims)))
        ]
        n = len(hoso)
        doc = (
            '<?xml version="1.0" encoding="utf-8"?><GIAMDINHHS>'
            f"<THONGTINDONVI><MACSKCB>{escape(fac[start])}</MACSKCB></THONGTINDONVI>"
            f"<THONGTINHOSO><NGAYLAP>20240101</NGAYLAP><SOLUONGHOSO>{n}</SOLUONGHOSO>"
            f"<DANHSACHHOSO>{''.join(hoso)}</DANHSACHHOSO></THONGTINHOSO>"
            "<CHUKYDONVI></CHUKYDONVI></GIAMDINHHS>"
        )
        path = out_dir / f"xml{layout}_{start // records_per_file:06d}.xml"
        path.write_text(doc, encoding="utf-8")
        paths.append(path)
    return paths
