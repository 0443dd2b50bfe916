#!/usr/bin/env python3
"""Polls URLs every INTERVAL seconds until the file STOP exists (or LIMIT seconds pass)
and prints one line per URL: "<url> <requests> <non-200 answers> <first bad code or ->".

    poll_codes.py STOP INTERVAL LIMIT URL [URL ...]
"""
import os
import sys
import time
import urllib.error
import urllib.request


def code(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def main():
    stop, interval, limit, urls = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
    stats = {u: [0, 0, "-"] for u in urls}
    end = time.monotonic() + limit
    while not os.path.exists(stop) and time.monotonic() < end:
        for u in urls:
            c = code(u)
            s = stats[u]
            s[0] += 1
            if c != 200:
                s[1] += 1
                if s[2] == "-":
                    s[2] = str(c)
        time.sleep(interval)
    for u in urls:
        print(u, *stats[u])


if __name__ == "__main__":
    main()
