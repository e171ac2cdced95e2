"""Webhook ingest: our POST /stripe/webhook/ against a bare INSERT view on the same server.

Prints RESULT webhook_ingest ratio=<ours/reference> target=0.80 and the p99 latency.
Run: make bench (or .venv/bin/python bench/webhooks.py). Needs PostgreSQL, Redis and wrk.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import stripe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import base_env, gunicorn, scratch_database, wrk  # noqa: E402

SECRET = "whsec_bench_" + secrets.token_hex(8)
EVENTS = 12_000  # per run: more than wrk sends in one run here


def _event() -> str:
    """A ~2 KB event of a type we store and ignore (no Stripe re-read in this benchmark)."""
    body = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "bench.ingest",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": {"id": f"obj_{uuid.uuid4().hex}", "padding": "x" * 1800}},
    }
    return json.dumps(body)


def _wrk_script(directory: Path, name: str, count: int) -> Path:
    """Pre-signed requests with unique event ids; wrk's threads take alternate ones."""
    lines = []
    for _ in range(count):
        payload = _event()
        ts = int(time.time())
        sig = stripe.WebhookSignature._compute_signature(f"{ts}.{payload}", SECRET)
        lines += [f"t={ts},v1={sig}", payload]
    data = directory / f"{name}.txt"
    data.write_text("\n".join(lines) + "\n")
    script = directory / f"{name}.lua"
    script.write_text(
        f"""
local threads = 0
function setup(thread)
  thread:set("first", threads)
  threads = threads + 1
end
function init(args)
  sigs, bodies, n = {{}}, {{}}, 0
  local lines = io.lines("{data}")
  for sig in lines do
    n = n + 1
    sigs[n] = sig
    bodies[n] = lines()
  end
  i = first
end
function request()
  i = i % n + 1
  local headers = {{["Content-Type"] = "application/json", ["Stripe-Signature"] = sigs[i]}}
  i = i + 1  -- two threads: one takes odd, the other even requests
  return wrk.format("POST", nil, headers, bodies[i - 1])
end
"""
    )
    return script


def main() -> None:
    env = base_env()
    env.update(STRIPE_WEBHOOK_SECRET=SECRET, DJANGO_SETTINGS_MODULE="bench.settings")
    with scratch_database("bench_webhooks", env) as db_url, tempfile.TemporaryDirectory() as tmp:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_reference (id bigserial PRIMARY KEY, body text)")
        scripts = [_wrk_script(Path(tmp), f"run{k}", EVENTS) for k in range(2)]
        env["DATABASE_URL"] = db_url
        results: dict[str, list[dict[str, float]]] = {"reference": [], "ours": []}
        with gunicorn(env) as base:
            # Alternate the two, twice, so drift on a shared machine hits both alike.
            for script in scripts:
                results["reference"].append(wrk(f"{base}/bench/reference/", script=script))
                results["ours"].append(wrk(f"{base}/stripe/webhook/", script=script))
        with psycopg.connect(db_url) as conn:
            stored = conn.execute("SELECT count(*) FROM donations_stripeevent").fetchone()
    best = {name: max(runs, key=lambda r: r["rate"]) for name, runs in results.items()}
    for name, run in best.items():
        print(f"{name:9s} {run['rate']:8.0f} req/s  p99 {run['p99_ms']:.1f} ms  "
              f"non-2xx {run['errors']:.0f}")
    print(f"stored events: {stored[0] if stored else 0}")
    ratio = best["ours"]["rate"] / best["reference"]["rate"]
    print(f"RESULT webhook_ingest ratio={ratio:.2f} target=0.80 p99_ms={best['ours']['p99_ms']:.1f}")


if __name__ == "__main__":
    main()
