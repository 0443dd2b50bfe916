#!/usr/bin/env python3
"""Measurement helpers for the healthgate benchmarks (python3 standard library only).

Subcommands (bench/run.sh drives them; each prints or writes JSON):
  gen            HealthCheck manifests: N checks x (1 HTTP + 1 TCP probe), 1000 checks per file
  bb-config      the same targets for Prometheus + blackbox_exporter (file_sd JSON + configs)
  hung-listener  a TCP listener that accepts and holds connections, never answering
  free-port      print an unused loopback port
  wait-http      poll a URL until it answers 200 (bounded)
  window         measure processes over a window: CPU cores, RSS, and (optionally) healthgate's
                 schedule lateness and probe counters from two /metrics scrapes
  wrk            run wrk and turn its --latency output into JSON
  report         Markdown table from the JSON files in a results directory

Lateness quantiles come from the DELTA of the cumulative histogram between two scrapes, with
linear interpolation inside the bucket that holds the quantile (as Prometheus's
histogram_quantile does, lower edge of the first bucket = 0). The fraction of observations at
or below a bucket edge (e.g. 10 ms) is exact; the interpolated quantile is not.
"""

import argparse
import asyncio
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# ---------------------------------------------------------------------------------------------
# Manifests


def check_name(i):
    return "c%05d" % i


def gen_manifests(out_dir, checks, interval, timeout, nginx_port, hung_port, hung_fraction,
                  per_file=1000, namespace="bench"):
    """Writes ceil(checks/per_file) multi-document YAML files. Checks whose index falls in the
    hung share point both probes at the hung listener; they are spread evenly (every k-th)
    so every file and every part of the schedule has the same mix. Returns a summary."""
    os.makedirs(out_dir, exist_ok=True)
    hung_every = 0
    if hung_fraction > 0:
        hung_every = max(1, round(1 / hung_fraction))
    hung = 0
    files = 0
    for start in range(0, checks, per_file):
        docs = []
        for i in range(start, min(start + per_file, checks)):
            is_hung = hung_every and i % hung_every == 0
            hung += 1 if is_hung else 0
            port = hung_port if is_hung else nginx_port
            tcp_extra = ', send: "PING\\r\\n", expect: "PONG"' if is_hung else ""
            docs.append(
                "apiVersion: healthgate.dev/v1alpha1\n"
                "kind: HealthCheck\n"
                "metadata: {name: %s, namespace: %s}\n"
                "spec:\n"
                "  interval: %s\n"
                "  timeout: %s\n"
                "  probes:\n"
                "  - name: web\n"
                "    http: {url: \"http://127.0.0.1:%d/healthz?check=%d\"}\n"
                "  - name: port\n"
                "    tcp: {host: 127.0.0.1, port: %d%s}\n"
                % (check_name(i), namespace, interval, timeout, port, i, port, tcp_extra))
        path = os.path.join(out_dir, "checks-%05d.yaml" % (start // per_file))
        with open(path, "w") as f:
            f.write("---\n".join(docs))
        files += 1
    return {"checks": checks, "probes": checks * 2, "hung_checks": hung, "files": files,
            "namespace": namespace}


def bb_config(out_dir, checks, interval, timeout, nginx_port, exporter_port):
    """Prometheus + blackbox_exporter doing the same probes as gen_manifests (all healthy):
    one HTTP target and one TCP target per check, relabeled to the exporter."""
    os.makedirs(out_dir, exist_ok=True)
    http_targets = [{"targets": ["http://127.0.0.1:%d/healthz?check=%d" % (nginx_port, i)],
                     "labels": {"check": check_name(i)}} for i in range(checks)]
    tcp_targets = [{"targets": ["127.0.0.1:%d" % nginx_port], "labels": {"check": check_name(i)}}
                   for i in range(checks)]
    with open(os.path.join(out_dir, "http.json"), "w") as f:
        json.dump(http_targets, f)
    with open(os.path.join(out_dir, "tcp.json"), "w") as f:
        json.dump(tcp_targets, f)
    with open(os.path.join(out_dir, "blackbox.yml"), "w") as f:
        f.write("modules:\n"
                "  http_2xx:\n"
                "    prober: http\n"
                "    timeout: %s\n"
                "    http: {valid_status_codes: [200], preferred_ip_protocol: ip4}\n"
                "  tcp_connect:\n"
                "    prober: tcp\n"
                "    timeout: %s\n"
                "    tcp: {preferred_ip_protocol: ip4}\n" % (timeout, timeout))
    relabel = ("    relabel_configs:\n"
               "    - {source_labels: [__address__], target_label: __param_target}\n"
               "    - {source_labels: [__param_target], target_label: instance}\n"
               "    - {target_label: __address__, replacement: '127.0.0.1:%d'}\n" % exporter_port)
    with open(os.path.join(out_dir, "prometheus.yml"), "w") as f:
        f.write("global: {scrape_interval: %s, scrape_timeout: %s, evaluation_interval: 1m}\n"
                "scrape_configs:\n" % (interval, interval))
        for job, module, sd in (("bb_http", "http_2xx", "http.json"),
                                ("bb_tcp", "tcp_connect", "tcp.json")):
            f.write("  - job_name: %s\n"
                    "    metrics_path: /probe\n"
                    "    params: {module: [%s]}\n"
                    "    file_sd_configs: [{files: ['%s']}]\n" % (job, module,
                                                                  os.path.join(out_dir, sd)))
            f.write(relabel)
    return {"checks": checks, "probes": 2 * checks}


# ---------------------------------------------------------------------------------------------
# Hung targets


async def _hold(reader, writer, held):
    held[0] += 1
    try:
        while await reader.read(65536):  # swallow what the client sends; never answer
            pass
    except (ConnectionError, OSError):
        pass
    finally:
        held[0] -= 1
        writer.close()


async def _hung_main(host, port, ready_file):
    held = [0]
    server = await asyncio.start_server(lambda r, w: _hold(r, w, held), host, port, backlog=4096)
    if ready_file:
        with open(ready_file, "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


def hung_listener(host, port, ready_file=None):
    asyncio.run(_hung_main(host, port, ready_file))


# ---------------------------------------------------------------------------------------------
# /proc


def parse_proc_stat(text):
    """utime+stime (clock ticks) from /proc/PID/stat; the command may contain spaces/parens."""
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime/stime are fields 14/15.
    return int(rest[11]) + int(rest[12])


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        return parse_proc_stat(f.read())


def parse_ppid(text):
    return int(text[text.rindex(")") + 2:].split()[1])


def descendants(pid):
    """PIDs of every descendant of pid (e.g. nginx's workers under its master)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                children.setdefault(parse_ppid(f.read()), []).append(int(entry))
        except OSError:
            continue
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def runqueue_wait_ns(pid):
    """Time every thread of pid spent runnable but waiting for a CPU (schedstat field 2).
    Grows when other processes compete for the cores: it tells contention from slowness."""
    total = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total


def parse_status_kb(text, key):
    m = re.search(r"^%s:\s+(\d+) kB" % re.escape(key), text, re.M)
    return int(m.group(1)) if m else None


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        return parse_status_kb(f.read(), "VmRSS") * 1024


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu_model": model,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


# ---------------------------------------------------------------------------------------------
# Prometheus text format

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text, prefixes=None):
    """[(name, {labels}, value)] for every sample line (only names starting with one of
    `prefixes` when given: a 100,000-probe exposition has millions of lines)."""
    out = []
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        if prefixes and not line.startswith(prefixes):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def histogram_buckets(samples, name):
    """{le: cumulative count} summed over every series of histogram `name`."""
    buckets = {}
    for n, labels, v in samples:
        if n == name + "_bucket":
            le = float(labels["le"])  # "+Inf" parses as inf
            buckets[le] = buckets.get(le, 0.0) + v
    return buckets


def sum_series(samples, name, by=None):
    """Sum of every sample named `name`, or {label value: sum} grouped by label `by`."""
    if by is None:
        return sum(v for n, _, v in samples if n == name)
    out = {}
    for n, labels, v in samples:
        if n == name:
            out[labels.get(by, "")] = out.get(labels.get(by, ""), 0.0) + v
    return out


def count_series(samples, prefix):
    return sum(1 for n, _, _ in samples if n.startswith(prefix))


def bucket_delta(before, after):
    return {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}


def histogram_quantile(q, buckets):
    """Quantile q from cumulative buckets {le: count}, linear interpolation inside the bucket,
    0 as the lower edge of the first bucket. Returns (value, in_inf_bucket); when the quantile
    falls in +Inf the value is the highest finite edge (a lower bound), as Prometheus does."""
    edges = sorted(buckets)
    if not edges or buckets[edges[-1]] <= 0:
        return (None, False)
    total = buckets[edges[-1]]
    rank = q * total
    prev_edge, prev_count = 0.0, 0.0
    for le in edges:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return (prev_edge, True)
            if count == prev_count:
                return (le, False)
            return (prev_edge + (le - prev_edge) * (rank - prev_count) / (count - prev_count),
                    False)
        prev_edge, prev_count = le, count
    return (edges[-1], False)


def fraction_at_or_below(edge, buckets):
    total = buckets.get(math.inf, 0.0)
    if total <= 0 or edge not in buckets:
        return None
    return buckets[edge] / total


# ---------------------------------------------------------------------------------------------
# HTTP


def http_get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def wait_http(url, deadline_s, expect=200):
    end = time.time() + deadline_s
    last = None
    while time.time() < end:
        try:
            status, _ = http_get(url, timeout=5)
            if status == expect:
                return True
            last = status
        except urllib.error.HTTPError as e:
            last = e.code
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(0.5)
    sys.stderr.write("wait-http: %s not %d after %ds (last: %s)\n" % (url, expect, deadline_s,
                                                                      last))
    return False


def scrape(url):
    t0 = time.time()
    _, body = http_get(url, timeout=120)
    return body.decode(), time.time() - t0


# ---------------------------------------------------------------------------------------------
# Measurement window

LATENESS = "healthgate_schedule_lateness_seconds"


def lateness_summary(before, after):
    d = bucket_delta(histogram_buckets(before, LATENESS), histogram_buckets(after, LATENESS))
    out = {"observations": d.get(math.inf, 0.0)}
    for q in (0.5, 0.99, 0.999):
        v, inf = histogram_quantile(q, d)
        out["p%s_ms" % str(q * 100).rstrip("0").rstrip(".")] = None if v is None else v * 1000
        if inf:
            out["p%s_above_highest_bucket" % str(q * 100).rstrip("0").rstrip(".")] = True
    for edge in (0.001, 0.01, 0.025, 0.1, 1.0):
        f = fraction_at_or_below(edge, d)
        out["fraction_le_%gms" % (edge * 1000)] = f
    out["buckets_delta"] = {("+Inf" if math.isinf(k) else repr(k)): v for k, v in sorted(d.items())}
    return out


def prom_query(base, expr):
    """Instant query against Prometheus; the scalar value of the first result or None."""
    url = base + "/api/v1/query?query=" + urllib.parse.quote(expr)
    _, body = http_get(url, timeout=60)
    res = json.loads(body)["data"]["result"]
    return float(res[0]["value"][1]) if res else None


def window(procs, seconds, metrics_url=None, sample_every=1.0, prom_url=None, scrape_every=0):
    """procs: {label: pid}. CPU over the window from utime+stime; RSS sampled every
    sample_every seconds (mean, max, last). With metrics_url, /metrics is scraped once before
    and once after; the CPU window starts after the first scrape and ends before the second,
    so the cost of rendering a large exposition is reported separately, not mixed in."""
    result = {"window_s": seconds, "loadavg_before": loadavg()}
    # A process counts with its descendants (nginx's master does no work; its worker does).
    trees = {k: [p] + descendants(p) for k, p in procs.items()}
    # Scrapes are only fetched here and parsed after the window: parsing tens of MB takes
    # seconds and must not stretch the interval the counter deltas are divided by.
    before_text = None
    # RSS before this window's first scrape: rendering the exposition allocates memory that
    # the allocator may keep, so "after a scrape" and "never scraped" are both reported.
    result["rss_before_scrape_mb"] = {k: sum(rss_bytes(p) for p in t) / 1e6
                                      for k, t in trees.items()}
    if metrics_url:
        m0 = time.monotonic()
        before_text, took = scrape(metrics_url)
        result["scrape_before_s"] = took
        result["exposition_bytes"] = len(before_text.encode())
        m0 += took / 2
    prom_before_text = None
    if prom_url:
        prom_before_text = scrape(prom_url + "/metrics")[0]
    ticks0 = {k: sum(cpu_ticks(p) for p in t) for k, t in trees.items()}
    wait0 = {k: sum(runqueue_wait_ns(p) for p in t) for k, t in trees.items()}
    t0 = time.monotonic()
    rss = {k: [] for k in procs}
    # Optional scrapes inside the window, as a Prometheus server scraping healthgate would.
    next_scrape = t0 + scrape_every if scrape_every and metrics_url else math.inf
    extra = []
    while True:
        for k, t in trees.items():
            rss[k].append(sum(rss_bytes(p) for p in t))
        if time.monotonic() >= next_scrape:
            extra.append(scrape(metrics_url)[1])
            next_scrape += scrape_every
        left = seconds - (time.monotonic() - t0)
        if left <= 0:
            break
        time.sleep(min(sample_every, left))
    elapsed = time.monotonic() - t0
    ticks1 = {k: sum(cpu_ticks(p) for p in t) for k, t in trees.items()}
    wait1 = {k: sum(runqueue_wait_ns(p) for p in t) for k, t in trees.items()}
    result["elapsed_s"] = elapsed
    if scrape_every:
        result["scrapes_inside_window"] = {"every_s": scrape_every, "count": len(extra),
                                           "max_s": max(extra, default=None)}
    result["procs"] = {}
    for k in procs:
        r = rss[k]
        result["procs"][k] = {
            "pid": procs[k],
            "pids": trees[k],
            "cpu_cores": (ticks1[k] - ticks0[k]) / CLK_TCK / elapsed,
            "runqueue_wait_ms_per_s": (wait1[k] - wait0[k]) / 1e6 / elapsed,
            "rss_mean_mb": sum(r) / len(r) / 1e6,
            "rss_max_mb": max(r) / 1e6,
            "rss_last_mb": r[-1] / 1e6,
        }
    if metrics_url:
        m1 = time.monotonic()
        text, took = scrape(metrics_url)
        m1 += took / 2
        # Counter deltas span midpoint to midpoint of the two scrapes (each exposition is
        # rendered at some instant inside its request).
        metrics_span = m1 - m0
        result["metrics_span_s"] = metrics_span
        wanted = ("healthgate_schedule_", "healthgate_probes_total")
        before = parse_metrics(before_text, wanted)
        del before_text
        after = parse_metrics(text, wanted)
        result["scrape_after_s"] = took
        result["lateness"] = lateness_summary(before, after)
        pb = sum_series(before, "healthgate_probes_total", by="result")
        pa = sum_series(after, "healthgate_probes_total", by="result")
        by_result = {k: pa[k] - pb.get(k, 0.0) for k in pa}
        result["probes_by_result"] = by_result
        result["probes_per_s"] = sum(by_result.values()) / metrics_span
        result["skipped_runs"] = (sum_series(after, "healthgate_schedule_skipped_total") -
                                  sum_series(before, "healthgate_schedule_skipped_total"))
        total_series, probe_series, probe_bytes = 0, 0, 0
        for line in text.splitlines():
            if not line or line[0] == "#":
                continue
            total_series += 1
            if line.startswith("healthgate_probe"):
                probe_series += 1
                probe_bytes += len(line) + 1  # label values are ASCII here
        result["series"] = {"total": total_series, "per_probe_families": probe_series}
        result["probe_series_exposition_bytes"] = probe_bytes
    if prom_url:
        after = parse_metrics(scrape(prom_url + "/metrics")[0])
        prom_before = parse_metrics(prom_before_text)
        name = "prometheus_target_interval_length_seconds_count"
        scrapes = sum_series(after, name) - sum_series(prom_before, name)
        result["prometheus"] = {
            "scrapes_per_s": scrapes / elapsed,
            "interval_p99_s": max((v for n, l, v in after
                                   if n == "prometheus_target_interval_length_seconds" and
                                   l.get("quantile") == "0.99"), default=None),
            "targets_up": prom_query(prom_url, "count(up == 1)"),
            "targets": prom_query(prom_url, "count(up)"),
            "probe_success": prom_query(prom_url, "count(probe_success == 1)"),
            "scrape_duration_p99_s": prom_query(prom_url,
                                                "quantile(0.99, scrape_duration_seconds)"),
        }
    result["loadavg_after"] = loadavg()
    return result


# ---------------------------------------------------------------------------------------------
# wrk

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_wrk(text):
    out = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+\w+),", text)
    out["requests"] = int(m.group(1)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % pct, text, re.M)
        out["p%s_ms" % pct] = _ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = [int(x) for x in m.groups()] if m else [0, 0, 0, 0]
    return out


def run_wrk(url, threads, connections, duration, script=None, env=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration, "--latency"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    out = parse_wrk(p.stdout)
    out["command"] = " ".join(cmd)
    out["raw"] = p.stdout
    if p.returncode != 0:
        out["error"] = p.stderr
    return out


# ---------------------------------------------------------------------------------------------
# Report


def _f(v, fmt="%.1f"):
    return "n/a" if v is None else fmt % v


def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def verdict(value, goal, lower_is_better=True):
    if value is None or goal is None:
        return ""
    return "yes" if (value <= goal if lower_is_better else value >= goal) else "NO"


def report_rows(results):
    """Markdown table lines from a list of scenario summaries (each has 'rows':
    [[metric, value, goal, verdict]])."""
    lines = ["| scenario | metric | value | goal | met |", "|---|---|---|---|---|"]
    for r in results:
        for row in r.get("rows", []):
            lines.append("| " + " | ".join(str(c) for c in [r["scenario"]] + row) + " |")
    return lines


def _load(path):
    with open(path) as f:
        return json.load(f)


def log_levels(path):
    """{level: count} of a healthgate JSON-lines log, plus the first warn/error lines."""
    counts, first = {}, []
    if not os.path.exists(path):
        return counts, first
    with open(path, errors="replace") as f:
        for line in f:
            try:
                level = json.loads(line).get("level", "?")
            except ValueError:
                level = "non-json"
            counts[level] = counts.get(level, 0) + 1
            if level not in ("info", "debug") and len(first) < 5:
                first.append(line.strip()[:300])
    return counts, first


def scheduled_from_log(path):
    """The 'probes' field of healthgate local's start-up line, or None."""
    if not os.path.exists(path):
        return None
    with open(path, errors="replace") as f:
        for line in f:
            if "healthgate local is running" in line:
                try:
                    return json.loads(line).get("probes")
                except ValueError:
                    return None
    return None


def _max_bucket(lat):
    """Upper edge of the highest non-empty bucket of the lateness delta, as text."""
    prev, top = 0.0, None
    for le, count in sorted(((float(k), v) for k, v in lat.get("buckets_delta", {}).items())):
        if count > prev:
            top = le
        prev = count
    if top is None:
        return "n/a"
    return "> 1000 ms" if math.isinf(top) else "<= %g ms" % (top * 1000)


def _lateness_rows(w, goal_ms, prefix=""):
    lat = w.get("lateness", {})
    p99 = lat.get("p99_ms")
    above = " (in +Inf bucket: >= this)" if lat.get("p99_above_highest_bucket") else ""
    return [
        [prefix + "lateness p50 (ms, interpolated)", _f(lat.get("p50_ms"), "%.2f"), "", ""],
        [prefix + "lateness p99 (ms, interpolated)", _f(p99, "%.2f") + above,
         "<= %g" % goal_ms if goal_ms else "", verdict(p99, goal_ms) if goal_ms else ""],
        [prefix + "share of starts <= 10 ms late (exact)",
         _f(None if lat.get("fraction_le_10ms") is None else lat["fraction_le_10ms"] * 100,
            "%.3f%%"), "", ""],
        [prefix + "worst start (highest non-empty bucket)", _max_bucket(lat), "", ""],
    ]


def summarize_scale(name, d, goals):
    meta = _load(os.path.join(d, name + ".meta.json"))
    w = _load(os.path.join(d, name + ".window.json"))
    man = _load(os.path.join(d, name + ".manifests.json"))
    hg = w["procs"]["healthgate"]
    probes = man["probes"]
    scheduled = scheduled_from_log(os.path.join(d, name + ".healthgate.log"))
    rows = [["probes (checks x 2)", "%d (%d hung checks)" % (probes, man["hung_checks"]), "", ""],
            ["probes scheduled (healthgate's start-up log line)", str(scheduled), str(probes),
             verdict(scheduled, probes, lower_is_better=False)],
            ["probes completed/s (planned)", "%.0f (%.0f)" % (
                w.get("probes_per_s", 0), probes / goals["interval_s"]), "", ""],
            ["results in window", json.dumps({k: int(v) for k, v in
                                              w.get("probes_by_result", {}).items()}), "", ""],
            ["skipped runs in window", "%d" % w.get("skipped_runs", 0), "0", ""]]
    rows += _lateness_rows(w, goals["p99_ms"])
    rows += [["healthgate CPU (cores)", _f(hg["cpu_cores"], "%.3f"),
              "<= %g" % goals["cores"] if goals.get("cores") else "",
              verdict(hg["cpu_cores"], goals.get("cores")) if goals.get("cores") else ""],
             ["healthgate RSS before the first /metrics scrape (MB)",
              _f(w.get("rss_before_scrape_mb", {}).get("healthgate")), "", ""],
             ["healthgate RSS max in window, after 1 scrape (MB)", _f(hg["rss_max_mb"]),
              "<= %g" % goals["rss_mb"], verdict(hg["rss_max_mb"], goals["rss_mb"])],
             ["healthgate threads runnable but not running (ms per s, all threads)",
              _f(hg.get("runqueue_wait_ms_per_s"), "%.1f"), "", ""],
             ["nginx CPU (cores)", _f(w["procs"]["nginx"]["cpu_cores"], "%.3f"), "", ""]]
    base_path = os.path.join(d, "baseline.window.json")
    out = {"scenario": name, "meta": meta}
    if os.path.exists(base_path):
        base = _load(base_path)["procs"]["healthgate"]["rss_mean_mb"]
        # Counted from the RSS before any scrape: what the probes themselves hold.
        rss = w.get("rss_before_scrape_mb", {}).get("healthgate", hg["rss_mean_mb"])
        total = (rss - base) * 1e6 / probes
        metrics = w["probe_series_exposition_bytes"] / probes
        out["bytes_per_probe"] = {"total": total, "metrics_estimate": metrics,
                                  "engine_estimate": total - metrics}
        rows += [["bytes/probe, total ((RSS before scrape - 0-check RSS %.1f MB) / probes)" % base,
                  "%.0f" % total, "", ""],
                 ["bytes/probe, metrics (estimate: per-probe series' exposition bytes)",
                  "%.0f" % metrics, "", ""],
                 ["bytes/probe, engine + rest (total - metrics estimate)",
                  "%.0f" % (total - metrics), "", ""]]
    rows += [["/metrics: series per probe, exposition MB, scrape s",
              "%.1f, %.1f, %.2f" % (w["series"]["per_probe_families"] / probes,
                                    w["exposition_bytes"] / 1e6, w["scrape_after_s"]), "", ""],
             ["load average before (1/5/15 min)", " ".join(meta["loadavg_before"]), "", ""]]
    counts, first = log_levels(os.path.join(d, name + ".healthgate.log"))
    rows.append(["healthgate log lines by level", json.dumps(counts, sort_keys=True), "", ""])
    out["log_first_warnings"] = first
    out["rows"] = rows
    return out


def summarize_serving(d):
    meta = _load(os.path.join(d, "serving.meta.json"))
    idle = _load(os.path.join(d, "serving.idle.window.json"))
    rows = _lateness_rows(idle, 10, "no load: ")
    rows.append(["no load: healthgate CPU (cores)",
                 _f(idle["procs"]["healthgate"]["cpu_cores"], "%.3f"), "", ""])
    runs = {}
    for f in sorted(os.listdir(d)):
        m = re.match(r"serving\.((ready|healthz)\.delay(\d+))\.wrk\.json$", f)
        if m:
            runs[m.group(1)] = (_load(os.path.join(d, f)),
                                _load(os.path.join(d, "serving.%s.window.json" % m.group(1))))
    for mode in sorted(runs, key=lambda m: (not m.startswith("ready"), m.endswith("delay0"))):
        wrk, w = runs[mode]
        label = "%s %s" % ("GET /ready/NS/NAME" if mode.startswith("ready") else "nginx /healthz",
                           "paced (delay %s ms/request/connection)" % mode.split("delay")[1]
                           if not mode.endswith("delay0") else "closed loop")
        rows.append(["%s: requests/s, p50 ms, p99 ms, non-2xx" % label,
                     "%s, %s, %s, %d" % (_f(wrk["requests_per_s"], "%.0f"),
                                        _f(wrk["p50_ms"], "%.2f"), _f(wrk["p99_ms"], "%.2f"),
                                        wrk["non_2xx"]), "", ""])
        rows += _lateness_rows(w, 10, "  during it: probe ")[1:2]
        rows.append(["  during it: healthgate CPU (cores), run-queue wait (ms/s)",
                     "%s, %s" % (_f(w["procs"]["healthgate"]["cpu_cores"], "%.3f"),
                                 _f(w["procs"]["healthgate"].get("runqueue_wait_ms_per_s"),
                                    "%.1f")), "", ""])
    for delay in sorted({m.split("delay")[1] for m in runs}):
        r, h = runs.get("ready.delay" + delay), runs.get("healthz.delay" + delay)
        if r and h:
            rows.append(["ratio /ready : nginx (delay %s): requests/s, p99" % delay,
                         "%s, %s" % (_f(_ratio(r[0]["requests_per_s"], h[0]["requests_per_s"]),
                                        "%.2f"),
                                     _f(_ratio(r[0]["p99_ms"], h[0]["p99_ms"]), "%.2f")), "", ""])
    rows.append(["load average before (1/5/15 min)", " ".join(meta["loadavg_before"]), "", ""])
    return {"scenario": "serving", "meta": meta, "rows": rows}


def summarize_blackbox(d):
    meta = _load(os.path.join(d, "blackbox.meta.json"))
    hgw = _load(os.path.join(d, "blackbox.healthgate.window.json"))
    bbw = _load(os.path.join(d, "blackbox.blackbox.window.json"))
    hg, bb, prom = (hgw["procs"]["healthgate"], bbw["procs"]["blackbox_exporter"],
                    bbw["procs"]["prometheus"])
    p = bbw.get("prometheus", {})
    rows = [["healthgate: probes completed/s, CPU cores, RSS max MB",
             "%.0f, %.3f, %.1f" % (hgw.get("probes_per_s", 0), hg["cpu_cores"], hg["rss_max_mb"]),
             "", ""],
            ["blackbox_exporter: probes (scrapes)/s, CPU cores, RSS max MB",
             "%.0f, %.3f, %.1f" % (p.get("scrapes_per_s", 0), bb["cpu_cores"], bb["rss_max_mb"]),
             "", ""],
            ["prometheus (driving it): CPU cores, RSS max MB",
             "%.3f, %.1f" % (prom["cpu_cores"], prom["rss_max_mb"]), "", ""],
            ["prometheus: targets up/total, probe_success=1, interval p99 s",
             "%s/%s, %s, %s" % (_f(p.get("targets_up"), "%.0f"), _f(p.get("targets"), "%.0f"),
                                _f(p.get("probe_success"), "%.0f"),
                                _f(p.get("interval_p99_s"), "%.3f")), "", ""],
            ["ratio CPU healthgate : blackbox_exporter",
             _f(_ratio(hg["cpu_cores"], bb["cpu_cores"]), "%.2f"), "", ""],
            ["ratio CPU healthgate : (blackbox_exporter + prometheus)",
             _f(_ratio(hg["cpu_cores"], bb["cpu_cores"] + prom["cpu_cores"]), "%.2f"), "", ""],
            ["ratio RSS healthgate : blackbox_exporter",
             _f(_ratio(hg["rss_max_mb"], bb["rss_max_mb"]), "%.2f"), "", ""],
            ["ratio RSS healthgate : (blackbox_exporter + prometheus)",
             _f(_ratio(hg["rss_max_mb"], bb["rss_max_mb"] + prom["rss_max_mb"]), "%.2f"), "", ""],
            ["load average before (1/5/15 min)", " ".join(meta["loadavg_before"]), "", ""]]
    rows[0:0] = _lateness_rows(hgw, 10, "healthgate: ")[1:2]
    return {"scenario": "blackbox", "meta": meta, "rows": rows}


def summarize(name, d):
    if name == "baseline":
        w = _load(os.path.join(d, "baseline.window.json"))
        hg = w["procs"]["healthgate"]
        out = {"scenario": name, "meta": _load(os.path.join(d, "baseline.meta.json")),
               "rows": [["healthgate RSS with 0 checks (MB)", _f(hg["rss_mean_mb"]), "", ""],
                        ["healthgate CPU with 0 checks (cores)", _f(hg["cpu_cores"], "%.3f"),
                         "", ""]]}
    elif name == "scale-20k":
        out = summarize_scale(name, d, {"interval_s": 10, "p99_ms": 10, "cores": 0.25,
                                        "rss_mb": 100})
    elif name == "scale-20k-hung":
        out = summarize_scale(name, d, {"interval_s": 10, "p99_ms": 10, "cores": 0.25,
                                        "rss_mb": 100})
    elif name == "scale-100k":
        out = summarize_scale(name, d, {"interval_s": 60, "p99_ms": 20, "rss_mb": 400})
    elif name == "serving":
        out = summarize_serving(d)
    elif name == "blackbox":
        out = summarize_blackbox(d)
    else:
        raise SystemExit("unknown scenario " + name)
    with open(os.path.join(d, name + ".json"), "w") as f:
        json.dump(out, f, indent=1)
    return out


# ---------------------------------------------------------------------------------------------


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--out", required=True)
    g.add_argument("--checks", type=int, required=True)
    g.add_argument("--interval", default="10s")
    g.add_argument("--timeout", default="2s")
    g.add_argument("--nginx-port", type=int, required=True)
    g.add_argument("--hung-port", type=int, default=0)
    g.add_argument("--hung-fraction", type=float, default=0.0)
    g.add_argument("--per-file", type=int, default=1000)
    b = sub.add_parser("bb-config")
    b.add_argument("--out", required=True)
    b.add_argument("--checks", type=int, required=True)
    b.add_argument("--interval", default="10s")
    b.add_argument("--timeout", default="2s")
    b.add_argument("--nginx-port", type=int, required=True)
    b.add_argument("--exporter-port", type=int, required=True)
    h = sub.add_parser("hung-listener")
    h.add_argument("--port", type=int, default=0)
    h.add_argument("--ready-file")
    sub.add_parser("free-port")
    sub.add_parser("machine")
    w = sub.add_parser("wait-http")
    w.add_argument("url")
    w.add_argument("--deadline", type=float, default=60)
    m = sub.add_parser("window")
    m.add_argument("--proc", action="append", default=[], help="LABEL=PID")
    m.add_argument("--seconds", type=float, required=True)
    m.add_argument("--metrics-url", help="healthgate /metrics")
    m.add_argument("--prom-url", help="Prometheus base URL (blackbox side)")
    m.add_argument("--scrape-every", type=float, default=0,
                   help="also fetch --metrics-url every S seconds inside the window")
    m.add_argument("--out", required=True)
    k = sub.add_parser("wrk")
    k.add_argument("url")
    k.add_argument("--threads", type=int, default=1)
    k.add_argument("--connections", type=int, default=4)
    k.add_argument("--duration", type=int, default=30)
    k.add_argument("--script")
    k.add_argument("--out", required=True)
    sm = sub.add_parser("summarize")
    sm.add_argument("scenario")
    sm.add_argument("results")
    r = sub.add_parser("report")
    r.add_argument("results")
    r.add_argument("scenarios", nargs="+")
    a = ap.parse_args(argv)

    if a.cmd == "gen":
        print(json.dumps(gen_manifests(a.out, a.checks, a.interval, a.timeout, a.nginx_port,
                                       a.hung_port, a.hung_fraction, a.per_file)))
    elif a.cmd == "bb-config":
        print(json.dumps(bb_config(a.out, a.checks, a.interval, a.timeout, a.nginx_port,
                                   a.exporter_port)))
    elif a.cmd == "hung-listener":
        hung_listener("127.0.0.1", a.port, a.ready_file)
    elif a.cmd == "free-port":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
        s.close()
    elif a.cmd == "machine":
        print(json.dumps(machine()))
    elif a.cmd == "wait-http":
        return 0 if wait_http(a.url, a.deadline) else 1
    elif a.cmd == "window":
        procs = {}
        for spec in a.proc:
            label, pid = spec.split("=", 1)
            procs[label] = int(pid)
        res = window(procs, a.seconds, a.metrics_url, prom_url=a.prom_url,
                     scrape_every=a.scrape_every)
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    elif a.cmd == "wrk":
        res = run_wrk(a.url, a.threads, a.connections, a.duration, a.script)
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
        if "error" in res:
            sys.stderr.write(res["error"])
            return 1
    elif a.cmd == "summarize":
        print(json.dumps(summarize(a.scenario, a.results)))
    elif a.cmd == "report":
        results = [_load(os.path.join(a.results, s + ".json")) for s in a.scenarios]
        m = results[0]["meta"]
        print("Machine: %d x %s; binary %s (%s, commit %s); results %s\n" % (
            m["nproc"], m["cpu_model"], m["binary"], m.get("binary_version"),
            m.get("binary_commit"), a.results))
        for r in results:
            print("- %s: %s, started %s" % (r["scenario"], r["meta"]["command"],
                                            r["meta"]["date"]))
        print()
        print("\n".join(report_rows(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
