#!/usr/bin/env python3
"""Unit checks for bench/hgbench.py: python3 -m unittest bench/test_hgbench.py"""

import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hgbench  # noqa: E402

EXPOSITION = """# HELP healthgate_schedule_lateness_seconds How late.
# TYPE healthgate_schedule_lateness_seconds histogram
healthgate_schedule_lateness_seconds_bucket{le="0.001"} %d
healthgate_schedule_lateness_seconds_bucket{le="0.01"} %d
healthgate_schedule_lateness_seconds_bucket{le="0.1"} %d
healthgate_schedule_lateness_seconds_bucket{le="+Inf"} %d
healthgate_schedule_lateness_seconds_sum 1.5
healthgate_schedule_lateness_seconds_count %d
healthgate_probes_total{namespace="bench",healthcheck="c00001",probe="web",type="http",result="success"} %d
healthgate_probes_total{namespace="bench",healthcheck="c00001",probe="port",type="tcp",result="timeout"} %d
healthgate_schedule_skipped_total 0
process_cpu_seconds_total 12.5
"""


def read(path):
    with open(path) as f:
        return f.read()


def expo(b1, b10, b100, inf, ok, to):
    return EXPOSITION % (b1, b10, b100, inf, inf, ok, to)


class HistogramTest(unittest.TestCase):
    def test_quantile_interpolates_inside_bucket(self):
        buckets = {0.001: 50.0, 0.01: 90.0, 0.1: 100.0, math.inf: 100.0}
        v, inf = hgbench.histogram_quantile(0.5, buckets)
        self.assertAlmostEqual(v, 0.001)
        self.assertFalse(inf)
        # rank 70 lies 20/40 of the way through (0.001, 0.01]
        v, _ = hgbench.histogram_quantile(0.7, buckets)
        self.assertAlmostEqual(v, 0.001 + 0.009 * 0.5)
        # first bucket interpolates from 0
        v, _ = hgbench.histogram_quantile(0.25, buckets)
        self.assertAlmostEqual(v, 0.0005)

    def test_quantile_in_inf_bucket_reports_highest_edge(self):
        buckets = {0.001: 10.0, 0.1: 50.0, math.inf: 100.0}
        v, inf = hgbench.histogram_quantile(0.99, buckets)
        self.assertEqual(v, 0.1)
        self.assertTrue(inf)

    def test_empty_histogram(self):
        self.assertEqual(hgbench.histogram_quantile(0.5, {math.inf: 0.0}), (None, False))

    def test_delta_between_scrapes(self):
        before = hgbench.parse_metrics(expo(1000, 1000, 1000, 1000, 10, 5))
        after = hgbench.parse_metrics(expo(1050, 1099, 1100, 1100, 70, 45))
        s = hgbench.lateness_summary(before, after)
        self.assertEqual(s["observations"], 100)
        self.assertAlmostEqual(s["p50_ms"], 1.0)
        # rank 99 falls 49/49 through (1ms, 10ms] -> 10 ms
        self.assertAlmostEqual(s["p99_ms"], 10.0)
        self.assertAlmostEqual(s["fraction_le_10ms"], 0.99)
        self.assertIsNone(s["fraction_le_25ms"])  # not a bucket edge of this histogram

    def test_parse_labels_with_escapes(self):
        s = hgbench.parse_metrics('m{a="x\\"y",b="z"} 3\n# c\nn 4e3\n')
        self.assertEqual(s[0], ("m", {"a": 'x\\"y', "b": "z"}, 3.0))
        self.assertEqual(s[1], ("n", {}, 4000.0))

    def test_sum_by_label(self):
        s = hgbench.parse_metrics(expo(0, 0, 0, 0, 7, 3))
        self.assertEqual(hgbench.sum_series(s, "healthgate_probes_total", by="result"),
                         {"success": 7.0, "timeout": 3.0})


class ProcTest(unittest.TestCase):
    def test_stat_with_spaces_and_parens_in_command(self):
        fields = ["S", "1", "1", "1", "0", "-1", "4194560", "10", "0", "0", "0", "123", "45"]
        text = "4242 (evil ) name) " + " ".join(fields + ["0"] * 30)
        self.assertEqual(hgbench.parse_proc_stat(text), 168)

    def test_own_process(self):
        self.assertGreaterEqual(hgbench.cpu_ticks(os.getpid()), 0)
        self.assertGreater(hgbench.rss_bytes(os.getpid()), 1_000_000)
        self.assertGreaterEqual(hgbench.runqueue_wait_ns(os.getpid()), 0)

    def test_descendants_include_grandchildren(self):
        p = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"])
        try:
            deadline = time.time() + 5
            while len(hgbench.descendants(p.pid)) < 2:
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            self.assertNotIn(p.pid, hgbench.descendants(p.pid))
            self.assertIn(p.pid, hgbench.descendants(os.getpid()))
        finally:
            for c in hgbench.descendants(p.pid):
                os.kill(c, 15)
            p.wait()

    def test_status_kb(self):
        self.assertEqual(hgbench.parse_status_kb("VmHWM:\t  10 kB\nVmRSS:\t  2048 kB\n", "VmRSS"),
                         2048)


class WrkTest(unittest.TestCase):
    OUT = """Running 10s test @ http://127.0.0.1:8080/ready/bench/c00001
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   210.11us  100.00us   5.00ms   90.00%
    Req/Sec    18.00k     1.00k   20.00k    70.00%
  Latency Distribution
     50%  190.00us
     75%  220.00us
     90%  300.00us
     99%    1.20ms
  180000 requests in 10.00s, 30.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  17999.50
Transfer/sec:      3.00MB
"""

    def test_parse(self):
        r = hgbench.parse_wrk(self.OUT)
        self.assertEqual(r["requests_per_s"], 17999.5)
        self.assertEqual(r["requests"], 180000)
        self.assertAlmostEqual(r["p50_ms"], 0.19)
        self.assertAlmostEqual(r["p99_ms"], 1.2)
        self.assertEqual(r["non_2xx"], 12)
        self.assertEqual(r["socket_errors"], [0, 0, 0, 0])


class ManifestTest(unittest.TestCase):
    def test_gen_files_names_and_hung_share(self):
        with tempfile.TemporaryDirectory() as d:
            s = hgbench.gen_manifests(d, 2500, "10s", "2s", 8081, 8082, 0.5)
            self.assertEqual(s["files"], 3)
            self.assertEqual(s["hung_checks"], 1250)
            text = read(os.path.join(d, "checks-00000.yaml"))
            docs = text.split("---\n")
            self.assertEqual(len(docs), 1000)
            self.assertIn("name: c00000", docs[0])
            self.assertIn("port: 8082", docs[0])  # even index -> hung
            self.assertIn('send: "PING\\r\\n", expect: "PONG"', docs[0])
            self.assertIn("port: 8081}", docs[1])
            self.assertIn("http://127.0.0.1:8081/healthz?check=1", docs[1])
            last = read(os.path.join(d, "checks-00002.yaml")).split("---\n")
            self.assertEqual(len(last), 500)

    def test_manifests_validate_with_healthgate_check(self):
        # HEALTHGATE_BINARY set: the binary must work. Unset: the default path is tried and
        # the check is skipped (with a message) when that binary lacks the check command.
        binary = os.environ.get("HEALTHGATE_BINARY", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "healthgate"))
        help_ok = os.path.exists(binary) and "--filename" in subprocess.run(
            [binary, "check", "--help"], capture_output=True, text=True).stdout
        if not help_ok:
            if "HEALTHGATE_BINARY" in os.environ:
                self.fail("HEALTHGATE_BINARY=%s has no usable check command" % binary)
            self.skipTest("%s has no check command yet" % binary)
        with tempfile.TemporaryDirectory() as d:
            hgbench.gen_manifests(d, 3, "10s", "1s", 1, 2, 0.5)
            p = subprocess.run([binary, "check", "-f", d], capture_output=True, text=True)
            # every probe points at a closed port: exit 1 (unhealthy), never 2 (bad input)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)

    def test_bb_config(self):
        with tempfile.TemporaryDirectory() as d:
            hgbench.bb_config(d, 3, "10s", "2s", 8081, 9115)
            http = json.loads(read(os.path.join(d, "http.json")))
            self.assertEqual(len(http), 3)
            self.assertEqual(http[2]["targets"], ["http://127.0.0.1:8081/healthz?check=2"])
            tcp = json.loads(read(os.path.join(d, "tcp.json")))
            # identical addresses, distinct label sets: Prometheus keeps them as 3 targets
            self.assertEqual(len({json.dumps(t["labels"]) for t in tcp}), 3)
            prom = read(os.path.join(d, "prometheus.yml"))
            self.assertIn("replacement: '127.0.0.1:9115'", prom)
            self.assertIn("scrape_interval: 10s", prom)


def fake_window(procs, with_metrics=True):
    w = {"window_s": 20, "elapsed_s": 20.0, "loadavg_before": [1, 1, 1],
         "procs": {k: {"pid": 1, "cpu_cores": 0.1, "rss_mean_mb": 50.0, "rss_max_mb": 55.0,
                       "rss_last_mb": 52.0} for k in procs}}
    if with_metrics:
        before = hgbench.parse_metrics(expo(0, 0, 0, 0, 0, 0))
        after = hgbench.parse_metrics(expo(39000, 39700, 40000, 40000, 20000, 20000))
        w.update(lateness=hgbench.lateness_summary(before, after), probes_per_s=2000.0,
                 rss_before_scrape_mb={k: 50.0 for k in procs},
                 probes_by_result={"success": 40000.0}, skipped_runs=0,
                 series={"total": 100, "per_probe_families": 340000},
                 probe_series_exposition_bytes=40_000_000, exposition_bytes=41_000_000,
                 scrape_before_s=1.0, scrape_after_s=1.2)
    return w


class WindowTest(unittest.TestCase):
    def test_window_against_a_served_exposition(self):
        import http.server
        import threading
        t0 = time.monotonic()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                # 1000 probes/s, all on time, counted since the server started
                n = int((time.monotonic() - t0) * 1000)
                body = expo(n, n, n, n, n, 0).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            w = hgbench.window({"me": os.getpid()}, 1.0,
                               "http://127.0.0.1:%d/metrics" % srv.server_address[1],
                               sample_every=0.2)
        finally:
            srv.shutdown()
        self.assertGreaterEqual(w["elapsed_s"], 1.0)
        self.assertAlmostEqual(w["probes_per_s"], 1000, delta=100)
        self.assertEqual(w["lateness"]["fraction_le_1ms"], 1.0)
        self.assertGreaterEqual(len(w["procs"]["me"]["pids"]), 1)
        self.assertGreater(w["procs"]["me"]["rss_max_mb"], 1)


class SummaryTest(unittest.TestCase):
    def test_every_scenario_summarizes_and_reports(self):
        with tempfile.TemporaryDirectory() as d:
            def put(name, obj):
                with open(os.path.join(d, name), "w") as f:
                    json.dump(obj, f)
            meta = {"nproc": 2, "cpu_model": "X", "date": "D", "loadavg_before": ["1", "2", "3"],
                    "command": "bench/run.sh", "binary": "hg"}
            for s in ("baseline", "scale-20k", "scale-20k-hung", "scale-100k", "serving",
                      "blackbox"):
                put(s + ".meta.json", dict(meta, scenario=s))
            put("baseline.window.json", dict(fake_window(["healthgate"], False), procs={
                "healthgate": {"pid": 1, "cpu_cores": 0.0, "rss_mean_mb": 10.0,
                               "rss_max_mb": 10.0, "rss_last_mb": 10.0}}))
            for s in ("scale-20k", "scale-20k-hung", "scale-100k"):
                put(s + ".window.json", fake_window(["healthgate", "nginx"]))
                put(s + ".manifests.json", {"checks": 10000, "probes": 20000,
                                            "hung_checks": 0})
            put("serving.idle.window.json", fake_window(["healthgate", "nginx"]))
            wrk = hgbench.parse_wrk(WrkTest.OUT)
            for mode in ("ready.delay1", "ready.delay0", "healthz.delay1", "healthz.delay0"):
                put("serving.%s.window.json" % mode, fake_window(["healthgate", "nginx"]))
                put("serving.%s.wrk.json" % mode, wrk)
            put("blackbox.healthgate.window.json", fake_window(["healthgate", "nginx"]))
            bb = fake_window(["blackbox_exporter", "prometheus", "nginx"], False)
            bb["prometheus"] = {"scrapes_per_s": 2000.0, "interval_p99_s": 10.01,
                                "targets_up": 20000.0, "targets": 20000.0,
                                "probe_success": 20000.0, "scrape_duration_p99_s": 0.01}
            put("blackbox.blackbox.window.json", bb)
            scale = hgbench.summarize("scale-20k", d)
            rows = {r[0]: r for r in scale["rows"]}
            # (50 - 10) MB / 20000 probes = 2000 bytes; exposition 40 MB / 20000 = 2000
            self.assertAlmostEqual(scale["bytes_per_probe"]["total"], 2000)
            self.assertAlmostEqual(scale["bytes_per_probe"]["engine_estimate"], 0)
            self.assertEqual(rows["healthgate RSS max in window, after 1 scrape (MB)"][1:],
                             ["55.0", "<= 100", "yes"])
            self.assertEqual(rows["lateness p99 (ms, interpolated)"][3], "yes")
            for s in ("baseline", "scale-20k-hung", "scale-100k", "serving", "blackbox"):
                hgbench.summarize(s, d)
            serving = {r[0]: r for r in hgbench.summarize("serving", d)["rows"]}
            self.assertEqual(serving["ratio /ready : nginx (delay 1): requests/s, p99"][1],
                             "1.00, 1.00")
            out = subprocess.run([sys.executable, hgbench.__file__, "report", d, "baseline",
                                  "scale-20k", "serving", "blackbox"],
                                 capture_output=True, text=True, check=True).stdout
            self.assertIn("| scale-20k | healthgate CPU (cores) | 0.100 | <= 0.25 | yes |", out)
            self.assertIn("| blackbox | ratio CPU healthgate : blackbox_exporter | 1.00 |", out)


class HungListenerTest(unittest.TestCase):
    def test_accepts_and_never_answers(self):
        with tempfile.TemporaryDirectory() as d:
            ready = os.path.join(d, "port")
            p = subprocess.Popen([sys.executable, hgbench.__file__, "hung-listener",
                                  "--ready-file", ready])
            try:
                deadline = time.time() + 10
                while not (os.path.exists(ready) and read(ready)):
                    self.assertLess(time.time(), deadline, "listener did not start")
                    time.sleep(0.05)
                port = int(read(ready))
                socks = [socket.create_connection(("127.0.0.1", port), timeout=2)
                         for _ in range(20)]
                for s in socks:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    s.settimeout(0.1)
                    with self.assertRaises(socket.timeout):
                        s.recv(1)
                    s.close()
            finally:
                p.terminate()
                p.wait()


if __name__ == "__main__":
    unittest.main()
