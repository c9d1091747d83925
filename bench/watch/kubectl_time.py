"""Times real kubectl consuming the same ConfigMaps the informer did.

Usage: kubectl_time.py KUBECTL N
Runs `KUBECTL get configmaps -A -w -o json`, counts the ConfigMaps it prints (one
`"kind": "ConfigMap",` line each, whether kubectl prints objects one by one or a List) until N, and prints key=value figures: seconds, events_per_s and the peak
RSS (VmHWM) of the kubectl process. Gives up after 900 s.
"""
import subprocess
import sys
import time


def peak_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    kubectl, want = sys.argv[1], int(sys.argv[2])
    t0 = time.monotonic()
    p = subprocess.Popen([kubectl, "get", "configmaps", "-A", "-w", "-o", "json"],
                         stdout=subprocess.PIPE)
    seen, peak = 0, 0
    try:
        for line in p.stdout:
            if line.strip() == b'"kind": "ConfigMap",':
                seen += 1
                if seen % 5000 == 0:
                    peak = max(peak, peak_rss_kib(p.pid))
                if seen >= want:
                    break
            if time.monotonic() - t0 > 900:
                break
        secs = time.monotonic() - t0
        peak = max(peak, peak_rss_kib(p.pid))
    finally:
        p.kill()
        p.wait()
    print("objects=%d seconds=%.3f events_per_s=%.0f peak_rss_kib=%d"
          % (seen, secs, seen / secs if secs else 0, peak))
    return 0 if seen >= want else 1


if __name__ == "__main__":
    sys.exit(main())
