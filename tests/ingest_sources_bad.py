"""Bad input for `retain ingest --add` (members, events, feedback), with hand-written fixtures
whose every reject (line and reason), removal and stored value is known: the rejects file,
the run summary counts, the latest-state and tier rules, opt-out and suppression, strict and
open vocabularies, feedback score ranges by kind, privacy options, mapping and usage errors,
refusals (other key, source already present, reject rate), identical results at 1 and 3
ranks, and a deterministic fuzz run over mutated exports of each kind (never a crash or a
hang, the same result at 1 and 2 ranks, every row accounted for).
Usage: ingest_sources_bad.py WORKDIR"""
import csv as csvmod
import io
import json
import os
import random
import shutil
import subprocess
import sys

import h5py

from ingest_common import BIN, MPIEXEC, MPIFLAGS, Checker, make_key, mix64, pseudonym

SRC = os.environ.get("RETAIN_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(SRC, "data-samples")


def run(args, ranks=1, cwd=None):
    cmd = ([MPIEXEC, "-n", str(ranks)] + MPIFLAGS if ranks > 1 else []) + [BIN] + args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, -999, "", "TIMEOUT (hang)")


def write(path, text):
    with open(path, "w", newline="") as fh:
        fh.write(text)


def rejects(path):
    with open(path, newline="") as fh:
        return [(int(r["line"]), r["reason"]) for r in csvmod.DictReader(fh)]


def main():
    work = sys.argv[1]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    check = Checker()
    key = make_key(os.path.join(work, "key"))
    K = os.path.join(work, "key")
    W = lambda n: os.path.join(work, n)
    write(W("tx.csv"), "customer_id,invoice,timestamp,item,category,store,channel,quantity,unit_price,amount\n"
          "A1,S1,2024-01-05 10:00:00,I1,C1,S1,in-store,1,10.00,10.00\n"
          "B2,S2,2024-01-06 10:00:00,I2,C1,S1,online,1,5.00,5.00\n"
          "D4,S3,2024-01-07 10:00:00,I2,C1,S1,online,1,5.00,5.00\n")
    r = run(["ingest", "--quiet", "--mapping", os.path.join(SAMPLES, "generated-transactions.ini"),
             "--key", K, "--out", W("tx.h5"), W("tx.csv")])
    check(r.returncode == 0, f"transactions ingest: {r.stderr}")

    # ---------------------------------------------------------------- members
    hdr = "member_id,registered_at,updated_at,acquisition_channel,tier,birth_date,gender,postcode,opt_in_email,opt_in_sms,points,opt_out\n"
    members = (hdr +
               "A1,2023-01-01 00:00:00,2023-01-01 00:00:00,web,basic,1984-05-17,female,de4 4jt,1,0,10,0\n"   # 2
               "A1,2023-01-01 00:00:00,2023-06-01 00:00:00,web,basic,1984-05-17,female,de4 4jt,1,0,250,0\n"  # 3 same tier
               "A1,2023-01-01 00:00:00,2023-09-01 00:00:00,web,silver,1984-05-17,female,de4 4jt,1,1,900,0\n" # 4
               "B2,2023-02-01 00:00:00,2023-02-01 00:00:00,\"app\nstore\",basic,1990,male,NG1 2SB,yes,no,,0\n"  # 5-6
               "B2,2023-02-01 00:00:00,2023-02-01 00:00:00,app,gold,1990,male,NG1 2SB,yes,no,,0\n"            # 7 dup member
               "A1,2023-01-01 00:00:00,2023-01-01 00:00:00,web,basic,1984-05-17,female,de4 4jt,1,0,10,0\n"   # 8 exact dup
               "E5,yesterday,2023-01-01 00:00:00,web,basic,,,,,,,0\n"                                         # 9 bad_date
               "E5,2023-01-01 00:00:00,2023-01-01 00:00:00,web,basic,,,,maybe,,,0\n"                          # 10 bad_flag
               "E5,2023-01-01 00:00:00,2023-01-01 00:00:00,web,basic,19x4,,,,,,0\n"                           # 11 bad_birth
               "E5,2023-01-01 00:00:00,2023-01-01 00:00:00,web,basic,,,,,,-5,0\n"                             # 12 bad_number
               ",2023-01-01 00:00:00,2023-01-01 00:00:00,web,basic,,,,,,,0\n"                                 # 13 missing
               "C3,2023-03-01 00:00:00,2023-03-01 00:00:00,partner,basic,1970-01-01,,SW1A 1AA,1,1,5,0\n"      # 14
               "C3,2023-03-01 00:00:00,2023-04-01 00:00:00,partner,basic,1970-01-01,,SW1A 1AA,1,1,5,1\n"      # 15 opt-out
               "F6,2023-01-01 00:00:00\n"                                                                    # 16 columns
               "G7,2023-01-01 00:00:00,2023-01-01 00:00:00,\"web,basic,,,,,,,0\n")                            # 17 quote
    write(W("members.csv"), members)
    map_members = open(os.path.join(SAMPLES, "generated-members.ini")).read().replace(
        "points = points", "points = points\nopt_out = opt_out")
    write(W("members.ini"), map_members)
    want_rej = [(7, "duplicate_member"), (8, "duplicate"), (9, "bad_date"), (10, "bad_flag"),
                (11, "bad_birth_date"), (12, "bad_number"), (13, "missing_customer"),
                (16, "wrong_column_count"), (17, "unterminated_quote")]
    stores = {}
    for np_ in (1, 3):
        out = W(f"m{np_}.h5")
        r = run(["ingest", "--quiet", "--add", "members", "--mapping", W("members.ini"), "--key", K,
                 "--append-to", W("tx.h5"), "--out", out, "--rejects", W(f"m{np_}.rej.csv"),
                 "--max-reject-rate", "0.9", "--summary", W(f"m{np_}.json"), W("members.csv")], ranks=np_)
        check(r.returncode == 0, f"members at {np_} ranks: exit {r.returncode} {r.stderr[-800:]}")
        if r.returncode:
            continue
        got = rejects(W(f"m{np_}.rej.csv"))
        check(got == want_rej, f"members rejects at {np_} ranks: {got}")
        s = json.load(open(W(f"m{np_}.json")))["ingest"]
        check(s["rows_read"] == 15 and s["duplicates_removed"] == 1 and s["opted_out_customers_removed"] == 1
              and s["member_rows_rejected_same_updated_at"] == 1,
              f"members summary at {np_} ranks: {s}")
        check(s["rejected_by_reason"]["bad_flag"] == 1 and s["rejected_by_reason"]["missing_customer"] == 1,
              f"members reasons: {s['rejected_by_reason']}")
        with h5py.File(out, "r") as f:
            g = f["members"]
            stores[np_] = {c: g[c][...].tolist() for c in g if isinstance(g[c], h5py.Dataset)}
            stores[np_]["tiers"] = (f["member_tiers/customer"][...].tolist(), f["member_tiers/time"][...].tolist(),
                                    [f["member_tiers/dict/tier"][c].decode() for c in f["member_tiers/tier"][...]])
            keys = g["customer"][...].tolist()
            pa, pb, pc = pseudonym(key, "A1"), pseudonym(key, "B2"), pseudonym(key, "C3")
            check(sorted(keys) == sorted([pa, pb]), f"members stored: want A1 and B2 only (C3 opted out)")
            ia, ib = keys.index(pa), keys.index(pb)
            tiers = [s.decode() for s in g["dict/tier"][...]]
            chans = [s.decode() for s in g["dict/acquisition_channel"][...]]
            check(tiers[g["tier"][ia]] == "silver" and g["points"][ia] == 900 and g["opt_in_sms"][ia] == 1,
                  "A1: the latest state (2023-09-01) does not win")
            check(chans[g["acquisition_channel"][ib]] == "app\nstore" and g["points"][ib] == -1 and
                  g["opt_in_email"][ib] == 1 and g["opt_in_sms"][ib] == 0,
                  "B2: the first of two rows with the same updated_at is not kept")
            check(g["birth_year"][ia] == 1984 and g["birth_year"][ib] == 1990, "birth years")
            regions = [s.decode() for s in g["dict/region"][...]]
            check(regions[g["region"][ia]] == "DE4" and regions[g["region"][ib]] == "NG1", f"regions {regions}")
            check("gender" not in g and "opt_out" not in g, "gender or opt_out stored")
            tk, tt, tn = stores[np_]["tiers"]
            ta = [(t, n) for k, t, n in zip(tk, tt, tn) if k == pa]
            check(ta == [(1672531200, "basic"), (1693526400, "silver")], f"A1 tier history {ta}")
            check(pc not in tk, "C3's tier history kept after the opt-out")
            prov = json.loads(g.attrs["provenance"])
            check(prov["privacy"]["opted_out_customers_removed"] == 1, "opt-out not in provenance")
    if 1 in stores and 3 in stores:
        check(stores[1] == stores[3], "members store differs between 1 and 3 ranks")
        check(open(W("m1.rej.csv")).read() == open(W("m3.rej.csv")).read(), "members rejects differ between 1 and 3 ranks")

    # privacy options: keep gender, 5-year birth bands, 2-character postcodes
    write(W("members_keep.ini"), map_members.replace("birth = year", "birth = band5")
          .replace("postcode_prefix = 3", "postcode_prefix = 2") + "keep = gender\n")
    r = run(["ingest", "--quiet", "--add", "members", "--mapping", W("members_keep.ini"), "--key", K,
             "--append-to", W("tx.h5"), "--out", W("mk.h5"), "--max-reject-rate", "0.9", W("members.csv")])
    check(r.returncode == 0, f"members with keep = gender: {r.stderr[-500:]}")
    if r.returncode == 0:
        with h5py.File(W("mk.h5"), "r") as f:
            g = f["members"]
            keys = g["customer"][...].tolist()
            ia = keys.index(pseudonym(key, "A1"))
            check("gender" in g and [s.decode() for s in g["dict/gender"][...]] == ["female", "male"],
                  "gender not kept although the mapping names it")
            check(g["birth_year"][ia] == 1980, f"band5: 1984 stored as {g['birth_year'][ia]}")
            check([s.decode() for s in g["dict/region"][...]] == ["DE", "NG"], "postcode_prefix = 2 not applied")
            pv = json.loads(g.attrs["provenance"])["privacy"]
            check(pv["sensitive_kept"] == ["gender"] and pv["sensitive_dropped"] == [], f"privacy provenance {pv}")

    # ---------------------------------------------------------------- events
    write(W("suppress.txt"), "# customers who asked to be forgotten\nD4\n")
    ev = ("member_id,visitor_id,event_time,event_type,item,category,channel,session_id\n"
          "A1,V1,2024-01-01 10:00:00,visit,,,online,\n"            # 2  gap session 1
          "A1,V1,2024-01-01 10:10:00,product_view,I1,C1,online,\n"  # 3  same session
          "A1,,2024-01-01 10:50:00,add_to_cart,I1,C1,online,\n"     # 4  gap > 30 min: session 2
          "A1,,2024-01-01 10:50:00,add_to_cart,I1,C1,online,\n"     # 5  exact duplicate
          ",V9,2024-01-02 09:00:00,page_view,,,app,S77\n"          # 6  anonymous, export session
          ",V9,2024-01-02 09:01:00,teleport,,,app,S77\n"           # 7  unknown type (strict)
          ",,2024-01-02 09:02:00,visit,,,app,\n"                   # 8  no id at all
          "B2,V9,2024-01-03 12:00:00,store_entry,,,in-store,\n"    # 9  declared extra type; links V9-B2
          "B2,V9,31/01/2024,visit,,,in-store,\n"                   # 10 bad date
          "D4,V4,2024-01-03 12:00:00,visit,,,in-store,\n"          # 11 suppressed
          "Z9,,2024-01-04 12:00:00,visit,,,online,\n")             # 12 orphan (no transactions, no member)
    write(W("events.csv"), ev)
    map_ev = open(os.path.join(SAMPLES, "generated-events.ini")).read().replace(
        "strict_vocabulary = yes", "strict_vocabulary = yes\nvocabulary = store_entry") + \
        f"[privacy]\nsuppression_list = {W('suppress.txt')}\n"
    write(W("events.ini"), map_ev)
    for np_ in (1, 3):
        r = run(["ingest", "--quiet", "--add", "events", "--mapping", W("events.ini"), "--key", K,
                 "--append-to", W("m1.h5"), "--out", W(f"e{np_}.h5"), "--rejects", W(f"e{np_}.rej.csv"),
                 "--max-reject-rate", "0.9", "--summary", W(f"e{np_}.json"), W("events.csv")], ranks=np_)
        check(r.returncode == 0, f"events at {np_} ranks: {r.stderr[-800:]}")
        if r.returncode:
            continue
        got = rejects(W(f"e{np_}.rej.csv"))
        check(got == [(5, "duplicate"), (7, "unknown_event_type"), (8, "missing_customer"), (10, "bad_date")],
              f"events rejects at {np_} ranks: {got}")
        s = json.load(open(W(f"e{np_}.json")))["ingest"]
        check(s["suppressed_rows_removed"] == 1 and s["rows_read"] == 11, f"events summary {s}")
        with h5py.File(W(f"e{np_}.h5"), "r") as f:
            types = [x.decode() for x in f["events/dict/event_type"][...]]
            check("store_entry" in types and "teleport" not in types, f"event vocabulary {types}")
            e = f["events"]
            pa = pseudonym(key, "A1")
            rows = [(int(t), types[c], int(sn)) for k, t, c, sn in zip(e["customer"][...], e["time"][...],
                                                                       e["event_type"][...], e["session"][...]) if k == pa]
            check([r[1] for r in rows] == ["visit", "product_view", "add_to_cart"], f"A1 events {rows}")
            s1 = mix64(pa ^ mix64(1704103200)) | (1 << 63)
            s2 = mix64(pa ^ mix64(1704106200)) | (1 << 63)
            check([r[2] for r in rows] == [s1, s1, s2], "A1 gap sessions (30 minutes) differ")
            check(pseudonym(key, "D4") not in e["customer"][...].tolist(), "suppressed customer D4 stored")
            v = f["visitor_events"]
            pv9 = pseudonym(key, "visitor:V9")
            check(v["visitor"][...].tolist() == [pv9], "visitor_events should hold V9's one accepted event")
            check(int(v["session"][0]) >> 63 == 0, "export session id hashed with the top bit set")
            lk = f["visitor_links"]
            links = sorted(zip(lk["visitor"][...].tolist(), lk["customer"][...].tolist(), lk["time"][...].tolist()))
            want_links = sorted([(pseudonym(key, "visitor:V1"), pa, 1704103200), (pv9, pseudonym(key, "B2"), 1704283200)])
            check(links == want_links, f"visitor links {links}")
        r = run(["inspect", "--json", W(f"e{np_}.h5")], ranks=np_)
        if r.returncode == 0:
            rep = {s["name"]: s for s in json.loads(r.stdout)["sources"]}
            check(rep["events"]["orphan_keys"] == 1 and rep["events"]["orphan_rows"] == 1,
                  f"inspect orphans {rep['events'].get('orphan_keys')}")
        else:
            check(False, f"inspect at {np_} ranks: {r.stderr[-500:]}")
    check(os.path.exists(W("e1.rej.csv")) and open(W("e1.rej.csv")).read() == open(W("e3.rej.csv")).read(),
          "events rejects differ between 1 and 3 ranks")
    # an open vocabulary keeps the unknown type
    write(W("events_open.ini"), map_ev.replace("strict_vocabulary = yes", "strict_vocabulary = no"))
    r = run(["ingest", "--quiet", "--add", "events", "--mapping", W("events_open.ini"), "--key", K,
             "--append-to", W("m1.h5"), "--out", W("eo.h5"), "--max-reject-rate", "0.9", W("events.csv")])
    check(r.returncode == 0, f"open vocabulary: {r.stderr[-300:]}")
    if r.returncode == 0:
        with h5py.File(W("eo.h5"), "r") as f:
            check("teleport" in [x.decode() for x in f["visitor_events/dict/event_type"][...]] and len(f["visitor_events/time"]) == 2, "open vocabulary dropped the teleport event")

    # ---------------------------------------------------------------- feedback
    fb = ("member_id,submitted_at,kind,score,topic,channel,comment\n"
          "A1,2024-01-01 10:00:00,NPS,9,staff,in-store,\"Great, thanks - call me on 0123\"\n"  # 2 ok
          "A1,2024-01-02 10:00:00,nps,11,staff,in-store,\n"      # 3 bad_score
          "A1,2024-01-03 10:00:00,csat,0,,app,\n"               # 4 bad_score
          "B2,2024-01-04 10:00:00,complaint,3,price,online,\n"  # 5 bad_score (no score for complaints)
          "B2,2024-01-05 10:00:00,complaint,,price,online,\n"   # 6 ok
          "B2,2024-01-06 10:00:00,survey,5,,online,\n"          # 7 unknown_kind
          "B2,2024-01-07 10:00:00,rating,4,,online,\n"          # 8 ok
          "B2,2024-01-08 10:00:00,nps,,,online,\n"              # 9 bad_score (nps without a score)
          "B2,2024-01-09 10:00:00,ticket,,delivery,app,\n")     # 10 ok
    write(W("feedback.csv"), fb)
    r = run(["ingest", "--quiet", "--add", "feedback", "--mapping", os.path.join(SAMPLES, "generated-feedback.ini"),
             "--key", K, "--append-to", W("e1.h5"), "--out", W("f.h5"), "--rejects", W("f.rej.csv"),
             "--max-reject-rate", "0.9", W("feedback.csv")], ranks=2)
    check(r.returncode == 0, f"feedback: {r.stderr[-500:]}")
    if r.returncode == 0:
        check(rejects(W("f.rej.csv")) == [(3, "bad_score"), (4, "bad_score"), (5, "bad_score"),
                                          (7, "unknown_kind"), (9, "bad_score")],
              f"feedback rejects {rejects(W('f.rej.csv'))}")
        with h5py.File(W("f.h5"), "r") as f:
            g = f["feedback"]
            kinds = [x.decode() for x in g["dict/kind"][...]]
            got = sorted((kinds[k], int(s)) for k, s in zip(g["kind"][...], g["score"][...]))
            check(got == [("complaint", -1), ("nps", 9), ("rating", 4), ("ticket", -1)], f"feedback rows {got}")
            check("comment" not in g, "free text stored")
            raw = open(W("f.h5"), "rb").read()
            check(b"call me on 0123" not in raw, "the comment's text is in the store file")
            srcs = [s.decode() if isinstance(s, bytes) else s for s in f.attrs["sources"]]
            check(srcs == ["transactions", "members", "member_tiers", "events", "visitor_events",
                           "visitor_links", "feedback"], f"sources {srcs}")

    # ---------------------------------------------------------------- refusals
    def refused(args, code, text, ranks=1, what=""):
        r = run(args, ranks=ranks)
        check(r.returncode == code and text in r.stderr,
              f"{what or ' '.join(args[:4])}: exit {r.returncode} (want {code}), stderr {r.stderr[-400:]!r}")
        return r
    base_add = ["ingest", "--quiet", "--add", "feedback", "--mapping", os.path.join(SAMPLES, "generated-feedback.ini"),
                "--key", K]
    write(W("free.ini"), open(os.path.join(SAMPLES, "generated-feedback.ini")).read().replace(
        "channel = channel", "channel = channel\ncomment = comment"))
    refused(["ingest", "--add", "feedback", "--mapping", W("free.ini"), "--key", K, "--append-to", W("tx.h5"),
             "--out", W("x.h5"), W("feedback.csv")], 6, "free text is never stored", what="comment mapped")
    refused(base_add + ["--append-to", W("f.h5"), "--out", W("x.h5"), W("feedback.csv")], 5,
            "already holds /feedback", ranks=3, what="source present")
    make_key(W("key2"))
    refused(["ingest", "--add", "members", "--mapping", W("members.ini"), "--key", W("key2"), "--append-to", W("tx.h5"),
             "--out", W("x.h5"), W("members.csv")], 5, "different key", ranks=2, what="other key")
    refused(["ingest", "--add", "members", "--mapping", W("members.ini"), "--key", K, "--append-to", W("tx.h5"),
             "--out", W("x.h5"), "--rejects", W("x.rej.csv"), W("members.csv")], 5, "more than --max-reject-rate",
            ranks=3, what="reject rate")
    check(not os.path.exists(W("x.h5")) and os.path.exists(W("x.rej.csv")),
          "reject rate exceeded: a store was written or no rejects file")
    refused(["ingest", "--add", "members", "--mapping", W("members.ini"), "--key", K, "--out", W("x.h5"),
             W("members.csv")], 2, "needs --append-to", what="no --append-to")
    refused(["ingest", "--add", "purchases", "--mapping", W("members.ini"), "--key", K, "--append-to", W("tx.h5"),
             "--out", W("x.h5"), W("members.csv")], 2, "unknown kind", what="unknown kind")
    write(W("nocol.ini"), "[columns]\ncustomer = member_id\ntime = registered_at\n")
    refused(["ingest", "--add", "members", "--mapping", W("nocol.ini"), "--key", K, "--append-to", W("tx.h5"),
             "--out", W("x.h5"), W("members.csv")], 6, "no updated_at column mapped", what="updated_at missing")
    write(W("badhdr.ini"), map_members.replace("tier = tier", "tier = membership_level"))
    refused(["ingest", "--add", "members", "--mapping", W("badhdr.ini"), "--key", K, "--append-to", W("tx.h5"),
             "--out", W("x.h5"), W("members.csv")], 6, "'membership_level' is not in the header", ranks=2,
            what="column not in header")
    check(not os.path.exists(W("x.h5")), "a refused run left a store")
    check(not [n for n in os.listdir(work) if ".tmp" in n], f"temporary files left: {os.listdir(work)}")

    # ---------------------------------------------------------------- fuzz
    rng = random.Random(17)
    gen_dir = W("gen")
    os.makedirs(gen_dir)
    r = run(["generate", "--quiet", "--out", os.path.join(gen_dir, "g.h5"), "--customers", "40", "--days", "120",
             "--csv", os.path.join(gen_dir, "tx.csv"), "--members-csv", os.path.join(gen_dir, "members.csv"),
             "--events-csv", os.path.join(gen_dir, "events.csv"), "--feedback-csv", os.path.join(gen_dir, "feedback.csv")])
    check(r.returncode == 0, f"generate for fuzzing: {r.stderr[-300:]}")
    r = run(["ingest", "--quiet", "--mapping", os.path.join(SAMPLES, "generated-transactions.ini"), "--key", K,
             "--out", os.path.join(gen_dir, "tx.h5"), os.path.join(gen_dir, "tx.csv")])
    check(r.returncode == 0, f"ingest for fuzzing: {r.stderr[-300:]}")
    junk = ['"', ',', '\n', '\r\n', '\x00', '\xff', 'é', '""', ' ', '9999-99-99', '-1', '1e9', 'teleport']
    runs = 0
    for kind in ("members", "events", "feedback"):
        lines = open(os.path.join(gen_dir, f"{kind}.csv"), encoding="utf-8").read().splitlines(True)
        head, body = lines[0], lines[1:400]
        for case in range(8):
            b = list(body)
            for _ in range(rng.randint(1, 12)):
                i = rng.randrange(len(b))
                line = b[i]
                op = rng.randrange(5)
                if op == 0 and len(line) > 2:   # insert junk
                    p = rng.randrange(len(line) - 1)
                    b[i] = line[:p] + rng.choice(junk) + line[p:]
                elif op == 1 and len(line) > 2:  # truncate
                    b[i] = line[:rng.randrange(1, len(line))] + "\n"
                elif op == 2:                    # duplicate
                    b.insert(i, line)
                elif op == 3:                    # delete a field separator
                    b[i] = line.replace(",", "", 1)
                else:                            # swap two fields
                    parts = line.rstrip("\n").split(",")
                    if len(parts) > 3:
                        x, y = rng.sample(range(len(parts)), 2)
                        parts[x], parts[y] = parts[y], parts[x]
                    b[i] = ",".join(parts) + "\n"
            path = os.path.join(gen_dir, f"fz_{kind}_{case}.csv")
            with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
                fh.write(head + "".join(b))
            res = {}
            for np_ in (1, 2):
                out = os.path.join(gen_dir, f"fz_{kind}_{case}_{np_}.h5")
                rj = os.path.join(gen_dir, f"fz_{kind}_{case}_{np_}.rej.csv")
                sm = os.path.join(gen_dir, f"fz_{kind}_{case}_{np_}.json")
                r = run(["ingest", "--quiet", "--add", kind, "--mapping", os.path.join(SAMPLES, f"generated-{kind}.ini"),
                         "--key", K, "--append-to", os.path.join(gen_dir, "tx.h5"), "--out", out, "--rejects", rj,
                         "--max-reject-rate", "1", "--summary", sm, path], ranks=np_)
                runs += 1
                check(r.returncode in (0, 4, 5), f"fuzz {kind} {case} at {np_} ranks: exit {r.returncode}: {r.stderr[-400:]}")
                content = None
                if r.returncode == 0:
                    with h5py.File(out, "r") as f:
                        content = {n: {c: f[n][c][...].tobytes() for c in f[n] if isinstance(f[n][c], h5py.Dataset)}
                                   for n in f if n in ("members", "events", "feedback", "visitor_events")}
                    s = json.load(open(sm))["ingest"]
                    stored = sum(len(v["time"]) // 8 for v in content.values())  # int64 times
                    if kind != "members":
                        check(s["rows_read"] == stored + s["rows_rejected"] + s["duplicates_removed"],
                              f"fuzz {kind} {case}: {s['rows_read']} rows read, {stored} stored, "
                              f"{s['rows_rejected']} rejected, {s['duplicates_removed']} duplicates")
                    content["rejects"] = open(rj, "rb").read()
                res[np_] = (r.returncode, content)
            check(res[1] == res[2], f"fuzz {kind} {case}: 1 and 2 ranks differ (exit {res[1][0]} / {res[2][0]})")
    print(f"fuzz: {runs} runs")
    return check.finish("ingest_sources_bad")


if __name__ == "__main__":
    sys.exit(main())
