#!/usr/bin/env python3
"""Checks that the files in contrib/ say what the built binary does, so they cannot rot:

  completions BINARY SOURCE_DIR   every subcommand and every flag of `--help` is in the
                                  bash and the zsh completion
  config BINARY SOURCE_DIR        every key of `serve` is in contrib/plextap.toml's [serve]
                                  table, commented out, with the default `--help` gives
  manpage BINARY MANPAGE          the manual has a section per subcommand and every flag
  grafana BINARY SOURCE_DIR       every metric the dashboard's queries name is one a running
                                  `serve` exports on /metrics
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

FLAG = re.compile(r"^\s+(?:-\w,)?(--[a-z0-9-]+)(?:\s+([A-Z]+)(?::\{[^}]*\})?(?::[A-Z ]+in \[[^]]*\])?(?:=(\S+))?)?")


def help_text(binary, *args):
    return subprocess.run([binary, *args, "--help"], check=True, capture_output=True, text=True,
                          timeout=30).stdout


def subcommands(binary, *args):
    """Names in the "Subcommands:" section of `plextap ARGS --help`."""
    names, inside = [], False
    for line in help_text(binary, *args).splitlines():
        if line.endswith(":") and not line.startswith(" "):
            inside = line == "Subcommands:"
        elif inside and line.startswith("  "):
            names.append(line.split()[0])
    return names


def flags(binary, *args):
    """{flag: (type or None, default or None)} of `plextap ARGS --help`, --help left out."""
    found = {}
    for line in help_text(binary, *args).splitlines():
        m = FLAG.match(line)
        if m and m.group(1) != "--help":
            found[m.group(1)] = (m.group(2), m.group(3))
    return found


def commands(binary):
    """Every runnable command path: ("serve",), ("replay", "send"), ..."""
    paths = []
    for sub in subcommands(binary):
        nested = subcommands(binary, sub)
        paths += [(sub, n) for n in nested] if nested else [(sub,)]
    return paths


def fail(problems):
    for p in problems:
        print("FAIL:", p)
    if problems:
        sys.exit(1)
    print("ok")


def check_completions(binary, source):
    problems = []
    files = {name: open(os.path.join(source, "contrib", "completion", name)).read()
             for name in ("plextap.bash", "_plextap")}
    all_commands = commands(binary)
    if ("serve",) not in all_commands:
        problems.append(f"no serve among the subcommands {all_commands}")
    for path in all_commands:
        for name, text in files.items():
            for word in path:
                if not re.search(r"\b" + re.escape(word) + r"\b", text):
                    problems.append(f"{name}: no subcommand {word}")
            for flag in flags(binary, *path):
                if not re.search(re.escape(flag) + r"(?![a-z0-9-])", text):
                    problems.append(f"{name}: no {flag} of {' '.join(path)}")
    fail(problems)


def check_config(binary, source):
    text = open(os.path.join(source, "contrib", "plextap.toml")).read()
    tables = re.split(r"^\[([a-z ]+)\]\s*$", text, flags=re.M)
    serve = dict(zip(tables[1::2], tables[2::2])).get("serve")
    problems = [] if serve is not None else ["no [serve] table"]
    keys = {}
    for m in re.finditer(r"^# ([a-z0-9-]+) = (.*)$", serve or "", flags=re.M):
        keys.setdefault(m.group(1), m.group(2).strip())
    serve_flags = flags(binary, "serve")
    for flag, (kind, default) in serve_flags.items():
        key = flag[2:]
        if key not in keys:
            problems.append(f"[serve] has no commented `# {key} = …`")
            continue
        value = keys[key]
        if kind is None:  # a switch
            expected = "false"
        elif default is None:
            expected = '""'
        elif kind in ("UINT", "INT", "FLOAT"):
            expected = default
        elif default.startswith("["):  # a list: ["a","b"]
            expected = "[" + ", ".join(f'"{v}"' for v in default[1:-1].split(",")) + "]"
        else:
            expected = f'"{default}"'
        if value != expected:
            problems.append(f"[serve] {key} = {value}, but its default is {expected}")
    for key in keys:
        if "--" + key not in serve_flags:
            problems.append(f"[serve] names {key}, which serve does not have")
    fail(problems)


def check_manpage(binary, manpage):
    text = open(manpage).read().replace("\\-", "-")
    problems = []
    for path in commands(binary):
        title = ".SH \"plextap " + " ".join(path) + "\""
        if title not in text:
            problems.append(f"no section {title}")
        for flag in flags(binary, *path):
            if flag not in text:
                problems.append(f"no {flag} of {' '.join(path)}")
    fail(problems)


# PromQL words that are not metric names.
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan"}


def query_metrics(expr):
    """The metric names a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        rest = expr[m.end():].lstrip()
        if rest.startswith("("):  # a function
            continue
        if m.group(0).lower() in PROMQL_WORDS or re.match(r"\d", m.group(0)):
            continue
        names.add(m.group(0))
    return names


def exported_metrics(binary):
    """Every series name a running `serve` exports: an https and an http listener, the
    recorder, enrichment and the server watch (a token given, the server absent)."""
    with tempfile.TemporaryDirectory() as tmp:
        err_path = os.path.join(tmp, "stderr")
        with open(err_path, "w") as err:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("PLEXTAP_") and k not in ("PLEX_TOKEN", "NOTIFY_SOCKET")}
            proc = subprocess.Popen(
                [binary, "serve", "--listen", "https://127.0.0.1:0,http://127.0.0.1:0",
                 "--admin", "127.0.0.1:0", "--data", os.path.join(tmp, "data"),
                 "--upstream", "http://127.0.0.1:9", "--plex-token", "not-a-token",
                 "--threads", "1"], stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            port = None
            for _ in range(100):  # 10 s
                m = re.search(r"admin on http://127\.0\.0\.1:(\d+)", open(err_path).read())
                if m:
                    port = m.group(1)
                    break
                time.sleep(0.1)
            if not port:
                raise SystemExit("FAIL: serve did not start:\n" + open(err_path).read())
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    names = set()
    for line in text.decode().splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) in ("histogram", "summary"):
                names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
        elif line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def check_grafana(binary, source):
    dashboard = json.load(open(os.path.join(source, "contrib", "grafana", "plextap.json")))
    exported = exported_metrics(binary)
    problems, queried = [], set()

    def panels(items):
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            names = query_metrics(target["expr"])
            if not names:
                problems.append(f"panel {panel['title']!r}: no metric in {target['expr']!r}")
            for name in names - exported:
                problems.append(f"panel {panel['title']!r} queries {name}, which serve does not export")
            queried |= names
    for family in ("plextap_responses_total", "plextap_request_duration_seconds_bucket",
                   "plextap_events_dropped_total", "process_resident_memory_bytes",
                   "plextap_build_info"):
        if family not in queried:
            problems.append(f"the dashboard shows nothing of {family}")
    fail(problems)


if __name__ == "__main__":
    mode, binary, path = sys.argv[1:4]
    {"completions": check_completions, "config": check_config, "manpage": check_manpage,
     "grafana": check_grafana}[mode](binary, path)
