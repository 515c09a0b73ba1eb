#!/usr/bin/env python3
"""Markdown table of an IMAP benchmark run: results.jsonl (one mailward-loadgen JSON
object per line) in, one row per workload and server out, with mailward/Dovecot ratios.

usage: table.py results.jsonl
"""
import json
import sys


def load(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def workload(r):
    m = r["mode"]
    if m == "imap-login":
        mech = r.get("mech", "?").upper()
        if mech == "PLAIN":
            return "login PLAIN (Argon2id)"
        return f"login {mech}, {r.get('token', '?')} token"
    return {"imap-append": "APPEND", "imap-fetch": "FETCH 1:* (FLAGS ENVELOPE)",
            "imap-idle": "idle connections"}.get(m, m)


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def main():
    rows = load(sys.argv[1])
    order = []
    by = {}
    for r in rows:
        w = workload(r)
        if w not in order:
            order.append(w)
        by[(w, r["label"])] = r

    print("| workload | server | c | result | p50 ms | p99 ms | errors | server CPU-s | per server CPU-s | mailward ÷ Dovecot |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    labels = ["mailward", "dovecot"]
    for r in rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    for w in order:
        mw, dv = by.get((w, "mailward")), by.get((w, "dovecot"))
        for label in labels:
            r = by.get((w, label))
            if not r:
                continue
            ratio = ""
            if w == "FETCH 1:* (FLAGS ENVELOPE)":
                result = f"{fmt(r['p50_ms'], 1)} ms per fetch (cold {fmt(r.get('cold_ms'), 1)} ms)"
                if r is mw and dv and r["p50_ms"]:
                    ratio = f"**{dv['p50_ms'] / r['p50_ms']:.2f}× faster**"
            elif w == "idle connections":
                result = (f"{fmt(r.get('server_pss_mib'), 1)} MiB PSS, {r.get('connections', 0):,} held, "
                          f"{r.get('server_processes', '?')} processes "
                          f"(idle server {fmt(r.get('baseline_pss_mib'), 1)} MiB)")
                if r is mw and dv and r.get("server_pss_mib") and dv.get("server_pss_mib"):
                    ratio = f"**{r['server_pss_mib'] / dv['server_pss_mib']:.2f}× the memory**"
            else:
                unit = "messages/s" if w == "APPEND" else "logins/s"
                result = f"{fmt(r['per_sec'])} {unit}"
                if r is mw and dv and dv["per_sec"]:
                    ratio = f"**{r['per_sec'] / dv['per_sec']:.2f}×**"
            p50 = fmt(r["p50_ms"], 2)
            p99 = fmt(r["p99_ms"], 2)
            if w == "idle connections":
                p50 = p99 = "–"
            errors = r["errors"] + r.get("lost", 0)
            per_cpu = r.get("per_server_cpu_s")
            per_cpu = fmt(per_cpu, 1 if per_cpu and per_cpu < 100 else 0) if per_cpu else "–"
            cpu = fmt(r.get("server_cpu_s"), 2) if r.get("server_cpu_s") is not None else "–"
            print(f"| {w} | {r['label']} | {r['concurrency']} | {result} | {p50} | {p99} | {errors} | {cpu} | {per_cpu} | {ratio} |")

    idle = [r for r in rows if r["mode"] == "imap-idle" and r.get("pss_by_command")]
    if idle:
        print()
        print("| idle connections: PSS by process | " + " | ".join(r["label"] for r in idle) + " |")
        print("|---|" + "--:|" * len(idle))
        commands = []
        for r in idle:
            for c in r["pss_by_command"]:
                if c not in commands:
                    commands.append(c)
        for c in commands:
            cells = []
            for r in idle:
                v = r["pss_by_command"].get(c)
                cells.append(f"{v['pss_mib']:.1f} MiB ({v['processes']})" if v else "")
            print(f"| {c} | " + " | ".join(cells) + " |")
        print("| **total** | " + " | ".join(f"**{r['server_pss_mib']:.1f} MiB**" for r in idle) + " |")


if __name__ == "__main__":
    main()
